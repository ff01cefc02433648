// Audit report page (admin, issue 17): who searched what, when, with which purpose and case, per
// user or per plate. It states its own purpose like every other view of personal data.
"use strict";

async function showAudit() {
  mount("audit");
  const form = $("#audit-form");
  await purposeFields(form);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    const who = form.subject.value.trim();
    if (!who) { $("#audit-status").textContent = "Give a user or a plate."; return; }
    p.set(form.kind.value, who);
    $("#audit-status").textContent = "Loading...";
    try {
      const r = await api("/audit/report?" + p.toString());
      const counts = (o) => Object.entries(o).map(([k, n]) => `${esc(k || "(none)")}: ${n}`).join(", ");
      $("#audit-summary").innerHTML = `${r.entries.length} entries${r.truncated ? " (more exist: narrow the period)" : ""}` +
        ` &middot; by action: ${counts(r.by_action)} &middot; by purpose: ${counts(r.by_purpose)}`;
      $("#audit-report tbody").innerHTML = r.entries.map((x) => `<tr><td>${fmtTime(Date.parse(x.ts))}</td><td>${esc(x.actor)}</td><td>${esc(x.role)}</td>` +
        `<td>${esc(x.action)}</td><td class="plate">${esc(x.searched || "")}</td><td>${esc(x.match || "")}</td><td>${esc(x.purpose || "")}</td>` +
        `<td>${esc(x.case_id || "")}</td><td>${x.result_count ?? ""}</td></tr>`).join("");
      $("#audit-status").textContent = "";
    } catch (err) { $("#audit-status").textContent = err.message; }
  });
}

(window.PAGES = window.PAGES || {}).audit = showAudit;
