// Stats page: passages per camera per hour, top plates and watchlist hits, over GET /stats.
// Only the top plates name plates: without a stated purpose the page asks for top=0 (aggregates).
"use strict";

async function loadStats(period, withPlates) {
  const current = latest("stats");
  const s = await api("/stats?" + new URLSearchParams({ period, top: withPlates ? "10" : "0" }));
  if (!current()) return;  // the period or purpose changed while this one ran
  $("#stats-totals").textContent = `${s.passages} passages, ${s.reads} reads, ${s.alerts.total} watchlist hits from ${fmtTime(s.since)} to ${fmtTime(s.until)} UTC`;
  const perCamera = {};
  for (const h of s.hourly) {
    const series = (perCamera[h.camera_id] = perCamera[h.camera_id] || {});
    series[h.hour] = (series[h.hour] || 0) + h.passages;
  }
  const series = Object.fromEntries(Object.entries(perCamera).map(([cam, byHour]) => [cam, Object.entries(byHour).map(([t, n]) => [Number(t), n])]));
  lineChart($("#chart-hourly"), series);
  if (withPlates) barChart($("#chart-top"), s.top_plates.map((p) => [p.plate, p.passages]), { labelClass: "plate" });
  else $("#chart-top").textContent = "State a purpose to see the top plates.";
  const order = ["critical", "high", "medium", "low"];
  barChart($("#chart-alerts"), order.filter((k) => k in s.alerts.by_priority).map((k) => [k, s.alerts.by_priority[k]]));
}

async function showStats() {
  mount("stats");
  const form = $("#stats-form");
  const remember = await purposeFields(form);
  if (!form.isConnected) return;  // another page was mounted while we waited: it owns the view
  // The aggregates need no purpose, so the form may be sent without one; the top plates do.
  const sel = form.querySelector("#q-purpose"), mustState = sel.required;
  sel.required = false;
  const run = () => { remember(); return loadStats(form.period.value, !mustState || !!sel.value).catch((err) => { $("#stats-status").textContent = err.message; }); };
  form.addEventListener("submit", (e) => { e.preventDefault(); run(); });
  onPurposeChange(form, run);
  await run();
}

(window.PAGES = window.PAGES || {}).stats = showStats;
