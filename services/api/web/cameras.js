// Cameras page: live status (GET /camera-status, refreshed every 3 s) with the latest plate read
// and its thumbnail per camera (GET /camera-status/latest, every 15 s), add/edit with zone
// polygons drawn over the camera's latest frame (GET /cameras/{id}/frame: the latest stored
// frame, else the scene image of its latest event). Zones are frame fractions (x, y in [0, 1]).
"use strict";

const zoneState = { points: [], roi: [], exclusions: [], img: null, frame: null };
const latestReads = { byCamera: {}, at: 0 };

function latestCell(id) {
  const r = latestReads.byCamera[id];
  if (!r) return "";
  const img = r.thumbnail_url ? `<img class="thumb" alt="latest plate" src="${esc(r.thumbnail_url)}"> ` : "";
  return `${img}<span class="plate">${esc(r.plate)}</span> <small>${esc(fmtAgo(r.ts))}</small>`;
}

async function loadLatestReads() {
  if (!((state.me && state.me.permissions) || []).includes("search")) return;
  if (Date.now() - latestReads.at < 15000) return;
  latestReads.at = Date.now();
  const note = $("#cam-latest-note");
  try {
    const rows = await api("/camera-status/latest?hours=24");
    latestReads.byCamera = Object.fromEntries(rows.map((r) => [r.camera_id, r]));
    if (note) note.textContent = "";
  } catch (err) { // a 422 without a stated purpose: say why the column is empty
    latestReads.byCamera = {};
    if (note) note.textContent = err.message;
  }
}

function stateBadge(s) {
  const title = s.reason ? ` title="${esc(s.reason)}"` : "";
  return `<span class="badge ${esc(s.state)}"${title}>${esc(s.state)}</span>` + (s.reason ? ` <small>${esc(s.reason)}</small>` : "");
}

async function loadCameraStatus() {
  const body = $("#cam-live tbody");
  if (!body) return;
  const rows = await api("/camera-status");
  await loadLatestReads().catch(() => {});
  body.innerHTML = rows.map((s) => `<tr data-id="${esc(s.camera_id)}"><td>${esc(s.camera_id)}</td><td>${esc(s.name || "")}</td><td class="cam-state">${stateBadge(s)}</td>` +
    `<td class="cam-seen">${esc(fmtAgo(Math.max(s.last_event_ts || 0, (latestReads.byCamera[s.camera_id] || {}).ts || 0)))}</td><td>${s.fps == null ? "" : s.fps.toFixed(1)}</td><td class="cam-rpm">${s.reads_per_min == null ? "" : s.reads_per_min}</td><td class="cam-latest">${latestCell(s.camera_id)}</td>` +
    `<td>${s.enabled == null ? "not configured" : s.enabled ? "yes" : "no"}</td><td>${s.configured ? `<button class="cam-edit" data-perm="camera:write">Edit</button>` : ""}</td></tr>`).join("");
  applyPerms(body);
  body.querySelectorAll(".cam-edit").forEach((b) => b.addEventListener("click", () => editCamera(b.closest("tr").dataset.id)));
}

function drawZones() {
  const c = $("#zone-canvas");
  if (!c) return;
  const g = c.getContext("2d");
  const sx = c.width, sy = c.height;
  g.fillStyle = "#39414f"; g.fillRect(0, 0, c.width, c.height);
  if (zoneState.img) g.drawImage(zoneState.img, 0, 0, c.width, c.height);
  const poly = (pts, stroke, fill) => {
    if (!pts.length) return;
    g.beginPath(); pts.forEach(([x, y], i) => (i ? g.lineTo(x * sx, y * sy) : g.moveTo(x * sx, y * sy)));
    if (fill) { g.closePath(); g.fillStyle = fill; g.fill(); }
    g.strokeStyle = stroke; g.lineWidth = 2; g.stroke();
  };
  zoneState.roi.forEach((p) => poly(p, "#2fbf71", "rgba(47,191,113,.25)"));
  zoneState.exclusions.forEach((p) => poly(p, "#e0433c", "rgba(224,67,60,.3)"));
  poly(zoneState.points, "#ffd23f", null);
  zoneState.points.forEach(([x, y]) => { g.fillStyle = "#ffd23f"; g.fillRect(x * sx - 3, y * sy - 3, 6, 6); });
  const fr = zoneState.frame;
  const over = fr ? ` over the ${fr.origin === "stored-frame" ? "latest stored frame" : "latest event's " + fr.kind + " image"} (${fmtAgo(fr.ts)})` : ` (no image: ${zoneState.frameError || "none of this camera yet"})`;
  $("#zone-summary").textContent = `${zoneState.roi.length} ROI, ${zoneState.exclusions.length} exclusion polygon(s)` + over;
}

async function loadFrame(cameraId) {
  zoneState.img = null; zoneState.frame = null; zoneState.frameError = null;
  const c = $("#zone-canvas");
  c.width = 640; c.height = 360; delete c.dataset.frame;
  try {
    const fr = await api("/cameras/" + encodeURIComponent(cameraId) + "/frame");
    const img = new Image();
    await new Promise((ok, bad) => { img.onload = ok; img.onerror = bad; img.src = fr.url; });
    zoneState.img = img; zoneState.frame = fr;
    // the canvas takes the frame's aspect ratio, so fractions of the canvas are fractions of the frame
    if (img.naturalWidth && img.naturalHeight) c.height = Math.round((c.width * img.naturalHeight) / img.naturalWidth);
    c.dataset.frame = fr.origin;
  } catch (err) { zoneState.frameError = err.message; /* draw on a blank frame, saying why */ }
}

async function editCamera(id) {
  const cam = await api("/cameras/" + encodeURIComponent(id));
  const f = $("#cam-form");
  for (const k of ["camera_id", "name", "site", "zone", "stream_url"]) f[k].value = cam[k] || "";
  f.plate_formats.value = (cam.plate_formats || []).join(", ");
  f.enabled.checked = cam.enabled;
  f.camera_id.readOnly = true;
  $("#cam-form-title").textContent = "Edit camera " + id;
  zoneState.roi = cam.zones.roi || []; zoneState.exclusions = cam.zones.exclusions || []; zoneState.points = [];
  await loadFrame(id);
  drawZones();
}

function newCamera() {
  const f = $("#cam-form");
  f.reset(); f.camera_id.readOnly = false;
  $("#cam-form-title").textContent = "Add a camera";
  $("#cam-status").textContent = "";
  zoneState.points = []; zoneState.roi = []; zoneState.exclusions = []; zoneState.img = null; zoneState.frame = null;
  const c = $("#zone-canvas"); c.width = 640; c.height = 360; delete c.dataset.frame;
  drawZones();
}

function listInput(v) { return v.split(",").map((x) => x.trim()).filter(Boolean); }

async function showCameras() {
  mount("cameras");
  zoneState.points = []; zoneState.roi = []; zoneState.exclusions = []; zoneState.img = null;
  const canvas = $("#zone-canvas");
  $("#cam-new").addEventListener("click", newCamera);
  const purposeForm = $("#cam-purpose");
  if (purposeForm) {
    purposeForm.addEventListener("submit", (e) => e.preventDefault());
    purposeFields(purposeForm).then(() => purposeForm.addEventListener("change", () => { latestReads.at = 0; loadCameraStatus().catch(() => {}); }));
  }
  $("#cam-form").camera_id.addEventListener("change", async (e) => {
    if (!e.target.readOnly && e.target.value) { await loadFrame(e.target.value); drawZones(); }
  });
  canvas.addEventListener("click", (e) => {
    const r = canvas.getBoundingClientRect();
    const frac = (v) => Math.round(Math.min(1, Math.max(0, v)) * 1000) / 1000;
    const x = frac((e.clientX - r.left - canvas.clientLeft) / canvas.clientWidth), y = frac((e.clientY - r.top - canvas.clientTop) / canvas.clientHeight);
    zoneState.points.push([x, y]); drawZones();
  });
  const close = (kind) => { if (zoneState.points.length >= 3) zoneState[kind].push(zoneState.points); zoneState.points = []; drawZones(); };
  $("#zone-roi").addEventListener("click", () => close("roi"));
  $("#zone-excl").addEventListener("click", () => close("exclusions"));
  $("#zone-clear").addEventListener("click", () => { zoneState.points = []; zoneState.roi = []; zoneState.exclusions = []; drawZones(); });
  $("#cam-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = e.target;
    const body = { name: f.name.value, site: f.site.value || null, zone: f.zone.value || null, stream_url: f.stream_url.value || null,
      plate_formats: listInput(f.plate_formats.value), enabled: f.enabled.checked, zones: { roi: zoneState.roi, exclusions: zoneState.exclusions } };
    if (f.username.value || f.password.value) body.credentials = { username: f.username.value, password: f.password.value };
    const path = "/cameras/" + encodeURIComponent(f.camera_id.value);
    try {
      await api(path, { method: f.camera_id.readOnly ? "PATCH" : "PUT", json: body });
      f.password.value = ""; $("#cam-status").textContent = "Saved."; loadCameraStatus();
    } catch (err) { $("#cam-status").textContent = err.message; }
  });
  drawZones();
  try { await loadCameraStatus(); } catch (err) { $("#cam-status-note").textContent = err.message; }
  every(3000, () => loadCameraStatus().catch(() => {}));
}

(window.PAGES = window.PAGES || {}).cameras = showCameras;
