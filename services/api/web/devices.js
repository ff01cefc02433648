// Devices page: devices managed through /devices with their activity; create, rotate and revoke,
// with the credential shown once.
"use strict";

function showCredential(id, credential) {
  const p = $("#dev-credential");
  p.hidden = false;
  p.innerHTML = `Credential of <b>${esc(id)}</b> (shown only now; send it as X-API-Key, or as the HTTP basic password with user ${esc(id)}):<br><code id="dev-credential-value">${esc(credential)}</code>`;
}

async function loadDevices() {
  const body = $("#devs tbody");
  if (!body) return;
  const devs = await api("/devices");
  body.innerHTML = devs.map((d) => `<tr data-id="${esc(d.device_id)}"><td>${esc(d.device_id)}</td><td>${esc(d.name)}</td><td>${esc(d.camera_ids.join(", ") || "any")}</td>` +
    `<td>${esc(d.allowed_formats.join(", ") || "any")}</td><td>${d.rate_per_s}</td><td class="dev-seen">${esc(fmtAgo(d.last_seen))}</td>` +
    `<td class="dev-pushes">${d.pushes_per_min}</td><td class="dev-rejects">${d.rejects_per_min}${d.last_reject ? ` <small>(${esc(d.last_reject)})</small>` : ""}</td>` +
    `<td class="dev-addr">${esc(d.remote_addr || "")}</td><td class="dev-state">${d.revoked ? '<span class="badge offline">revoked</span>' : '<span class="badge online">active</span>'}</td>` +
    `<td data-perm="camera:write"><button data-a="edit">Edit</button> <button data-a="rotate">Rotate</button> <button data-a="revoke"${d.revoked ? " disabled" : ""}>Revoke</button> <button data-a="delete">Delete</button></td></tr>`).join("");
  applyPerms(body);
  body.querySelectorAll("button").forEach((b) => b.addEventListener("click", async () => {
    const id = b.closest("tr").dataset.id;
    const path = "/devices/" + encodeURIComponent(id);
    try {
      if (b.dataset.a === "edit") { editDevice(devs.find((d) => d.device_id === id)); return; }
      if (b.dataset.a === "rotate") showCredential(id, (await api(path + "/rotate", { method: "POST" })).credential);
      else if (b.dataset.a === "revoke") await api(path + "/revoke", { method: "POST" });
      else await api(path, { method: "DELETE" });
      await loadDevices();
    } catch (err) { $("#dev-status").textContent = err.message; }
  }));
}

function editDevice(d) {
  const f = $("#dev-form");
  f.device_id.value = d.device_id; f.device_id.readOnly = true;
  f.name.value = d.name; f.camera_ids.value = d.camera_ids.join(", ");
  f.allowed_formats.value = d.allowed_formats.join(", "); f.rate_per_s.value = d.rate_per_s;
  $("#dev-create").textContent = "Save";
}

async function showDevices() {
  mount("devices");
  $("#dev-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = e.target;
    const split = (v) => v.split(",").map((x) => x.trim()).filter(Boolean);
    const body = { name: f.name.value, camera_ids: split(f.camera_ids.value), allowed_formats: split(f.allowed_formats.value), rate_per_s: Number(f.rate_per_s.value || 50) };
    try {
      if (f.device_id.readOnly) {  // editing: the credential stays as it is
        await api("/devices/" + encodeURIComponent(f.device_id.value), { method: "PATCH", json: body });
        $("#dev-status").textContent = "Saved."; f.device_id.readOnly = false; $("#dev-create").textContent = "Create";
      } else {
        const d = await api("/devices", { method: "POST", json: Object.assign({ device_id: f.device_id.value }, body) });
        showCredential(d.device_id, d.credential);
        $("#dev-status").textContent = "Created.";
      }
      f.device_id.value = "";
      await loadDevices();
    } catch (err) { $("#dev-status").textContent = err.message; }
  });
  try { await loadDevices(); } catch (err) { $("#dev-status").textContent = err.message; }
  every(5000, () => loadDevices().catch(() => {}));
}

(window.PAGES = window.PAGES || {}).devices = showDevices;
