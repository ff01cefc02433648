// Alerts page: recent watchlist alerts with who acknowledged them; acknowledge with a note.
// Alerts name plates: the page asks for a purpose like the search page (issue 17).
"use strict";

async function loadAlerts() {
  const f = $("#alerts-form");
  const p = new URLSearchParams({ limit: "200" });
  if (f.unacked_only.checked) p.set("unacked_only", "true");
  const current = latest("alerts");
  const rows = await api("/alerts?" + p);
  if (!current()) return;  // the filter or purpose changed while this one ran
  const perms = new Set(state.me.permissions || []);
  $("#alerts-status").textContent = `${rows.length} alert(s)`;
  $("#alerts tbody").innerHTML = rows.map((a) => `<tr data-id="${esc(a.alert_id)}" class="prio-${esc(a.priority)}"><td>${fmtTime(a.ts)}</td><td><span class="badge ${esc(a.priority)}">${esc(a.priority)}</span></td>` +
    `<td class="plate"><a href="#event/${encodeURIComponent(a.event_id)}">${esc(a.plate)}</a></td><td>${esc(a.list_id)}${a.reason ? ": " + esc(a.reason) : ""}</td><td>${esc(a.camera_name || a.camera_id)}</td>` +
    `<td class="ack">${a.ack ? `${esc(a.ack.user)} at ${fmtTime(a.ack.ts)}${a.ack.note ? ": " + esc(a.ack.note) : ""}`
      : perms.has("correct") ? '<input class="ack-note" placeholder="note" size="14"> <button class="ack-btn">Acknowledge</button>' : "open"}</td></tr>`).join("");
  $("#alerts tbody").querySelectorAll(".ack-btn").forEach((b) => b.addEventListener("click", async () => {
    const tr = b.closest("tr");
    try {
      await api(`/alerts/${encodeURIComponent(tr.dataset.id)}/ack`, { method: "POST", json: { note: tr.querySelector(".ack-note").value } });
      await loadAlerts();
    } catch (err) { $("#alerts-status").textContent = err.message; }
  }));
}

async function showAlerts() {
  mount("alerts");
  const form = $("#alerts-form");
  // Alerts name plates: the page states the purpose chosen here (sent as X-Purpose by api()).
  const remember = await purposeFields(form);
  if (!form.isConnected) return;  // another page was mounted while we waited: it owns the view
  const reload = () => { remember(); loadAlerts().catch((err) => { $("#alerts-status").textContent = err.message; }); };
  form.addEventListener("submit", (e) => { e.preventDefault(); reload(); });
  onPurposeChange(form, () => { if (!purposeMissing(form)) reload(); });
  if (purposeMissing(form)) $("#alerts-status").textContent = "State a purpose to see the alerts.";
  else reload();
}

(window.PAGES = window.PAGES || {}).alerts = showAlerts;
