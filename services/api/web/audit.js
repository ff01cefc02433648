// Audit report page (admin, issue 17): who searched what, when, with which purpose and case, per
// user or per plate. It states its own purpose like every other view of personal data.
"use strict";

async function showAudit() {
  mount("audit");
  const form = $("#audit-form");
  await purposeFields(form);
  // Shown again while we waited (a second hashchange): that render owns the page now; going on
  // would add a second submit handler to its erase form, and one click would erase twice.
  if (!form.isConnected) return;
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    const who = form.subject.value.trim();
    if (!who) { $("#audit-status").textContent = "Give a user or a plate."; return; }
    p.set(form.kind.value, who);
    const current = latest("audit");
    $("#audit-status").textContent = "Loading...";
    try {
      const r = await api("/audit/report?" + p.toString());
      if (!current()) return;  // another report was asked meanwhile
      const counts = (o) => Object.entries(o).map(([k, n]) => `${esc(k || "(none)")}: ${n}`).join(", ");
      $("#audit-summary").innerHTML = `${r.entries.length} entries${r.truncated ? " (more exist: narrow the period)" : ""}` +
        ` &middot; by action: ${counts(r.by_action)} &middot; by purpose: ${counts(r.by_purpose)}`;
      $("#audit-report tbody").innerHTML = r.entries.map((x) => `<tr><td>${fmtTime(Date.parse(x.ts))}</td><td>${esc(x.actor)}</td><td>${esc(x.role)}</td>` +
        `<td>${esc(x.action)}</td><td class="plate">${esc(x.searched || "")}</td><td>${esc(x.match || "")}</td><td>${esc(x.purpose || "")}</td>` +
        `<td>${esc(x.case_id || "")}</td><td>${x.result_count ?? ""}</td></tr>`).join("");
      $("#audit-status").textContent = "";
    } catch (err) { if (current()) $("#audit-status").textContent = err.message; }
  });
  showErasures();
}

// Erasures (admin): request one, then watch the list until the sink has carried it out.
async function listErasures() {
  const r = await api("/privacy/erasures?limit=50");
  $("#erasures tbody").innerHTML = r.erasures.map((x) => `<tr data-id="${esc(x.erasure_id)}"><td>${fmtTime(x.ts)}</td>` +
    `<td>${esc(x.scope)}</td><td class="mono">${esc(x.event_id || (x.subject_id || "").slice(0, 16) + "...")}</td>` +
    `<td>${esc(x.actor)}</td><td>${esc(x.purpose || "")}</td><td>${esc(x.case_id || "")}</td>` +
    `<td>${x.rows_total}</td><td>${x.images_deleted}</td><td>${fmtTime(x.executed_at)}</td></tr>`).join("");
  return r.erasures;
}

function showErasures() {
  const form = $("#erase-form");
  listErasures().catch((err) => { $("#erase-status").textContent = err.message; });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const what = form.subject.value.trim();
    if (!what) return;
    if (!confirm(`Erase ${form.kind.value === "plate" ? "plate" : "event"} ${what} from every store? This cannot be undone.`)) return;
    $("#erase-status").textContent = "Requesting...";
    try {
      const r = await api("/privacy/erasures", { method: "POST", json: { [form.kind.value]: what } });
      $("#erase-status").textContent = `Requested (${r.erasure_id}); waiting for the sink...`;
      for (let i = 0; i < 60; i++) {
        const done = (await listErasures()).find((x) => x.erasure_id === r.erasure_id);
        if (done) {
          $("#erase-status").textContent = `Done: ${done.rows_total} rows and ${done.images_deleted} images removed.`;
          form.subject.value = "";
          return;
        }
        await new Promise((res) => setTimeout(res, 1000));
      }
      $("#erase-status").textContent = `Requested (${r.erasure_id}); not carried out yet: look again later.`;
    } catch (err) { $("#erase-status").textContent = err.message; }
  });
}

(window.PAGES = window.PAGES || {}).audit = showAudit;
