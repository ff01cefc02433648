// Stats page: passages per camera per hour, top plates and watchlist hits, over GET /stats.
"use strict";

async function loadStats(period) {
  const s = await api("/stats?" + new URLSearchParams({ period, top: "10" }));
  $("#stats-totals").textContent = `${s.passages} passages, ${s.reads} reads, ${s.alerts.total} watchlist hits from ${fmtTime(s.since)} to ${fmtTime(s.until)} UTC`;
  const perCamera = {};
  for (const h of s.hourly) {
    const series = (perCamera[h.camera_id] = perCamera[h.camera_id] || {});
    series[h.hour] = (series[h.hour] || 0) + h.passages;
  }
  const series = Object.fromEntries(Object.entries(perCamera).map(([cam, byHour]) => [cam, Object.entries(byHour).map(([t, n]) => [Number(t), n])]));
  lineChart($("#chart-hourly"), series);
  barChart($("#chart-top"), s.top_plates.map((p) => [p.plate, p.passages]), { labelClass: "plate" });
  const order = ["critical", "high", "medium", "low"];
  barChart($("#chart-alerts"), order.filter((k) => k in s.alerts.by_priority).map((k) => [k, s.alerts.by_priority[k]]));
}

async function showStats() {
  mount("stats");
  const form = $("#stats-form");
  const run = () => loadStats(form.period.value).catch((err) => { $("#stats-status").textContent = err.message; });
  form.addEventListener("submit", (e) => { e.preventDefault(); run(); });
  await run();
}

(window.PAGES = window.PAGES || {}).stats = showStats;
