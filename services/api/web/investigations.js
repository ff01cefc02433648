// Investigations pages: a plate's journeys on a plain map (SVG of the cameras' coordinates, nothing
// fetched from the internet), the plates travelling with it, the origin-destination heatmap,
// dwell per site, and the clone detector's anomalies. Over GET /investigations/*.
"use strict";

const INV_TABS = [["journeys", "Journeys"], ["convoys", "Travelling with"], ["od", "OD matrix"], ["dwell", "Dwell"], ["anomalies", "Anomalies"]];
// Styles of these pages live here, not in the shared style.css.
document.head.appendChild(Object.assign(document.createElement("style"), { textContent: `
.inv-tabs { margin-bottom: .5rem; } .inv-tabs a.active { font-weight: 700; text-decoration: underline; }
.inv-map, .inv-heatmap { width: 100%; max-height: 520px; font: 12px system-ui, sans-serif; }
.inv-heatmap { max-width: 720px; } .inv-label { fill: #1d2330; }
.swatch { display: inline-block; width: .8rem; height: .8rem; margin-right: .3rem; border-radius: 2px; }` }));
const INV_COLORS = ["#2458c6", "#e0433c", "#2fbf71", "#f0a202", "#8e44ad", "#16a085", "#d35400", "#7f8c8d"];

function invSvg(tag, attrs, text) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

// The page frame: tabs, a form with the given fields, a status line and an output area.
// Tabs whose answers name plates ask why (issue 17): the purpose is remembered for the session.
const INV_PURPOSE = `<label>Purpose <select id="q-purpose"><option value="">state why...</option></select></label>` +
  `<label>Case <input id="q-case" maxlength="64" placeholder="case reference"></label>`;

function invMount(tab, fields, { purpose = false } = {}) {
  const view = $("#view");
  const tabs = INV_TABS.map(([id, label]) => `<a href="#${id}" class="${id === tab ? "active" : ""}">${label}</a>`).join(" | ");
  view.innerHTML = `<section class="card investigations"><nav class="inv-tabs">${tabs}</nav>` +
    `<form id="inv-form" class="inline">${fields}${purpose ? INV_PURPOSE : ""}<button id="inv-submit" type="submit">Show</button></form>` +
    `<p id="inv-status" class="muted"></p><div id="inv-out"></div></section>`;
  const form = $("#inv-form");
  if (purpose) purposeFields(form);
  return form;
}

const invDays = (n) => `<label>Days back <input name="days" type="number" min="1" max="366" value="${n}"></label>`;

// ``load`` asks the API and returns a function that draws its answer (and says what it drew): only
// the answer to the latest request is drawn, so a slower earlier one cannot replace it.
function invRun(form, load) {
  const go = async () => {
    const current = latest("investigation");
    $("#inv-status").textContent = "…";
    try {
      const draw = await load(new FormData(form));
      if (current()) $("#inv-status").textContent = draw();
    } catch (err) { if (current()) $("#inv-status").textContent = err.message; }
  };
  form.addEventListener("submit", (e) => { e.preventDefault(); go(); });
  return go;
}

// ---- journeys on a map --------------------------------------------------------------------
function journeyMap(trips, { width = 900, height = 480 } = {}) {
  const pad = 40;
  const svg = invSvg("svg", { viewBox: `0 0 ${width} ${height}`, class: "inv-map", role: "img" });
  svg.appendChild(invSvg("rect", { x: 0, y: 0, width, height, fill: "#eef1f5" }));
  const stops = trips.flatMap((t) => t.stops).filter((s) => s.lat !== null && s.lon !== null);
  if (!stops.length) { svg.appendChild(invSvg("text", { x: 20, y: 30 }, "no positions")); return svg; }
  // Equirectangular with the longitude scaled by cos(latitude): right for a town-sized map.
  const lat0 = stops.reduce((a, s) => a + s.lat, 0) / stops.length;
  const k = Math.cos((lat0 * Math.PI) / 180);
  const xs = stops.map((s) => s.lon * k), ys = stops.map((s) => s.lat);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const scale = Math.min((width - 2 * pad) / Math.max(x1 - x0, 1e-6), (height - 2 * pad) / Math.max(y1 - y0, 1e-6));
  const P = (s) => [pad + (s.lon * k - x0) * scale, height - pad - (s.lat - y0) * scale];
  trips.forEach((t, i) => {
    // trips over the same road are drawn a few pixels apart, so each one stays visible
    const off = (i - (trips.length - 1) / 2) * Math.min(4, 24 / trips.length);
    const pts = t.stops.filter((s) => s.lat !== null).map((s) => P(s).map((v) => (v + off).toFixed(1)).join(",")).join(" ");
    svg.appendChild(invSvg("polyline", { points: pts, fill: "none", stroke: INV_COLORS[i % INV_COLORS.length], "stroke-width": 3, "stroke-opacity": 0.7, class: "trip", "data-trip": t.trip }));
  });
  const cams = new Map(stops.map((s) => [s.camera_id, s]));
  for (const [id, s] of cams) {
    const [x, y] = P(s);
    svg.appendChild(invSvg("circle", { cx: x, cy: y, r: 6, fill: "#1d2330", class: "camera" }));
    svg.appendChild(invSvg("text", { x: x + 9, y: y - 7, class: "inv-label" }, `${id}${s.site ? " (" + s.site + ")" : ""}`));
  }
  return svg;
}

async function showJourneys(plate) {
  const form = invMount("journeys", `<label>Plate <input id="inv-plate" name="plate" required value="${esc(plate || "")}"></label>` +
    `${invDays(30)}<label>Trip gap (s) <input name="gap_s" type="number" min="60" value="1800"></label>`, { purpose: true });
  const run = invRun(form, async (f) => {
    const r = await api("/investigations/journeys?" + new URLSearchParams(f));
    return () => {
      const out = $("#inv-out");
      out.replaceChildren(journeyMap(r.trips));
      const table = document.createElement("table");
      table.className = "grid";
      table.id = "inv-trips";
      table.innerHTML = "<thead><tr><th>Trip</th><th>Start (UTC)</th><th>End</th><th>From</th><th>To</th><th>Cameras</th></tr></thead><tbody>" +
        r.trips.map((t, i) => `<tr><td><span class="swatch" style="background:${INV_COLORS[i % INV_COLORS.length]}"></span>${t.trip}</td><td>${fmtTime(t.start_ms)}</td>` +
          `<td>${fmtTime(t.end_ms)}</td><td>${esc(t.origin)}</td><td>${esc(t.destination)}</td><td>${t.stops.map((s) => esc(s.camera_id)).join(" → ")}</td></tr>`).join("") + "</tbody>";
      out.appendChild(table);
      return `${r.trips.length} trip(s) of ${r.plate}`;
    };
  });
  if (plate) await run();
}

// ---- travelling with ----------------------------------------------------------------------
async function showConvoys(plate) {
  const form = invMount("convoys", `<label>Plate <input id="inv-plate" name="plate" required value="${esc(plate || "")}"></label>` +
    `<label>Within (s) <input name="within_s" type="number" min="1" max="3600" value="60"></label>` +
    `<label>Min. occasions <input name="min_occasions" type="number" min="1" value="3"></label>` +
    `<label>Min. cameras together <input name="min_cameras" type="number" min="1" value="2"></label>${invDays(30)}`, { purpose: true });
  const run = invRun(form, async (f) => {
    const r = await api("/investigations/convoys?" + new URLSearchParams(f));
    return () => {
      $("#inv-out").innerHTML = `<table id="inv-convoys" class="grid"><thead><tr><th>Plate</th><th>Occasions</th><th>Passages together</th><th>Cameras</th><th>First</th><th>Last</th></tr></thead><tbody>` +
        r.companions.map((c) => `<tr><td class="plate"><a href="#journeys/${encodeURIComponent(c.plate)}">${esc(c.plate)}</a></td><td>${c.occasions}</td>` +
          `<td>${c.passages}</td><td>${c.cameras}</td><td>${fmtTime(c.first_ms)}</td><td>${fmtTime(c.last_ms)}</td></tr>`).join("") + "</tbody></table>";
      return `${r.companions.length} plate(s) travelling with ${r.plate}`;
    };
  });
  if (plate) await run();
}

// ---- origin-destination heatmap -----------------------------------------------------------
function heatmap(cells, { cell = 70 } = {}) {
  const total = new Map();
  for (const c of cells) total.set(`${c.origin}\u0000${c.destination}`, (total.get(`${c.origin}\u0000${c.destination}`) || 0) + c.trips);
  const areas = [...new Set(cells.flatMap((c) => [c.origin, c.destination]))].sort();
  const left = 110, top = 90, size = cell * areas.length;
  const svg = invSvg("svg", { viewBox: `0 0 ${left + size + 20} ${top + size + 20}`, class: "inv-heatmap", role: "img" });
  const max = Math.max(1, ...total.values());
  areas.forEach((a, i) => {
    svg.appendChild(invSvg("text", { x: left - 6, y: top + i * cell + cell / 2 + 4, "text-anchor": "end", class: "inv-label" }, a || "(none)"));
    svg.appendChild(invSvg("text", { x: left + i * cell + cell / 2, y: top - 8, "text-anchor": "middle", class: "inv-label" }, a || "(none)"));
  });
  svg.appendChild(invSvg("text", { x: 4, y: 14, class: "inv-label" }, "rows: origin, columns: destination"));
  areas.forEach((o, i) => areas.forEach((d, j) => {
    const n = total.get(`${o}\u0000${d}`) || 0;
    const light = 97 - Math.round((n / max) * 55);
    svg.appendChild(invSvg("rect", { x: left + j * cell, y: top + i * cell, width: cell - 2, height: cell - 2, fill: `hsl(217, 70%, ${light}%)`, class: "od-cell", "data-trips": n }));
    svg.appendChild(invSvg("text", { x: left + j * cell + cell / 2, y: top + i * cell + cell / 2 + 4, "text-anchor": "middle", fill: light < 65 ? "#fff" : "#1d2330" }, String(n)));
  }));
  return svg;
}

async function showOd() {
  const form = invMount("od", `<label>By <select name="by"><option>site</option><option>zone</option></select></label>${invDays(30)}` +
    `<label>Trip gap (s) <input name="gap_s" type="number" min="60" value="1800"></label>`);
  const run = invRun(form, async (f) => {
    const r = await api("/investigations/od?" + new URLSearchParams(f));
    return () => {
      $("#inv-out").replaceChildren(heatmap(r.cells));
      const hours = new Set(r.cells.map((c) => c.hour_ms));
      return `${r.cells.reduce((a, c) => a + c.trips, 0)} trips over ${hours.size} hour(s), by ${r.by}`;
    };
  });
  await run();
}

// ---- dwell per site -----------------------------------------------------------------------
const fmtDur = (s) => (s >= 3600 ? `${(s / 3600).toFixed(1)} h` : `${Math.round(s / 60)} min`);

async function showDwell() {
  const form = invMount("dwell", `<label>Site <input name="site" placeholder="all sites"></label>` +
    `<label>Limit (h) <input id="inv-limit" type="number" min="0.1" step="0.1" value="4"></label>${invDays(30)}`, { purpose: true });
  const run = invRun(form, async (f) => {
    if (!f.get("site")) f.delete("site");
    f.set("limit_s", String(Number($("#inv-limit").value) * 3600));
    const r = await api("/investigations/dwell?" + new URLSearchParams(f));
    return () => {
      $("#inv-out").innerHTML = `<table id="inv-sites" class="grid"><thead><tr><th>Site</th><th>Stays</th><th>Inside now</th><th>Median</th><th>p90</th><th>Overstays</th></tr></thead><tbody>` +
        r.sites.map((s) => `<tr><td>${esc(s.site)}</td><td>${s.stays}</td><td>${s.inside}</td><td>${fmtDur(s.median_s)}</td><td>${fmtDur(s.p90_s)}</td><td class="${s.overstays ? "hit" : ""}">${s.overstays}</td></tr>`).join("") +
        `</tbody></table><h2>Overstays (over ${fmtDur(r.limit_s)})</h2><table id="inv-overstays" class="grid"><thead><tr><th>Plate</th><th>Site</th><th>Entry (UTC)</th><th>Exit</th><th>Stay</th></tr></thead><tbody>` +
        r.overstays.map((o) => `<tr><td class="plate"><a href="#journeys/${encodeURIComponent(o.plate)}">${esc(o.plate)}</a></td><td>${esc(o.site)}</td><td>${fmtTime(o.entry_ms)}</td>` +
          `<td>${o.exit_ms ? fmtTime(o.exit_ms) : "still inside"}</td><td>${fmtDur(o.seconds)}</td></tr>`).join("") + "</tbody></table>";
      return `${r.sites.length} site(s), ${r.overstays.length} overstay(s)`;
    };
  });
  await run();
}

// ---- anomalies ----------------------------------------------------------------------------
async function showAnomalies() {
  const form = invMount("anomalies", `<label>Kind <select name="kind"><option value="">any</option><option>clone</option><option>misread</option><option>overstay</option></select></label>${invDays(30)}`, { purpose: true });
  const run = invRun(form, async (f) => {
    if (!f.get("kind")) f.delete("kind");
    const r = await api("/investigations/anomalies?" + new URLSearchParams(f));
    return () => {
      $("#inv-out").innerHTML = `<table id="inv-anomalies" class="grid"><thead><tr><th>Time (UTC)</th><th>Kind</th><th>Plate</th><th>From</th><th>To</th><th>km</th><th>s apart</th><th>Why</th></tr></thead><tbody>` +
        r.anomalies.map((a) => `<tr><td>${fmtTime(a.ts_ms)}</td><td><span class="badge ${a.kind === "clone" ? "critical" : "unknown"}">${esc(a.kind)}</span></td>` +
          `<td class="plate"><a href="#journeys/${encodeURIComponent(a.plate)}">${esc(a.plate)}</a></td><td>${esc(a.first_camera_id)}</td><td>${esc(a.second_camera_id)}</td>` +
          `<td>${a.distance_km.toFixed(1)}</td><td>${Math.round(a.seconds_apart)}</td><td>${esc(a.reason)}</td></tr>`).join("") + "</tbody></table>";
      return `${r.anomalies.length} anomal${r.anomalies.length === 1 ? "y" : "ies"}`;
    };
  });
  await run();
}

Object.assign((window.PAGES = window.PAGES || {}), {
  journeys: showJourneys,
  convoys: showConvoys,
  od: showOd,
  dwell: showDwell,
  anomalies: showAnomalies,
});
