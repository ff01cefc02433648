// platestream console: plain JavaScript, no build step. Talks to /api/v1 with a bearer token.
"use strict";

const API = "/api/v1";
const $ = (sel, root = document) => root.querySelector(sel);
const state = { token: sessionStorage.getItem("ps.token"), refresh: sessionStorage.getItem("ps.refresh"), me: null, ws: null, cursor: null };

function esc(v) {
  return String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}
function fmtTime(ms) { return ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 19) : ""; }
function fmtAgo(ms) {
  if (!ms) return "never";
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 60 ? `${s} s ago` : s < 3600 ? `${Math.round(s / 60)} min ago` : s < 86400 ? `${Math.round(s / 3600)} h ago` : fmtTime(ms);
}
// A watchlist hit as a reader knows it: the list and the reason (the entry id only as a fallback).
function hitLabel(h) { return h.list_id ? `${h.list_id}${h.reason ? ": " + h.reason : ""}` : h.entry_id; }
function hitsText(ev) { return (ev.hits && ev.hits.length ? ev.hits.map(hitLabel) : ev.watchlist_hits || []).join("; "); }
// Pages in their own files (cameras.js, devices.js, ...) register here; they are loaded before this file.
const PAGES = window.PAGES || {};
// A timer a page sets to refresh itself; cleared when another page is shown.
let pageTimer = null;
function every(ms, fn) { if (pageTimer) clearInterval(pageTimer); pageTimer = setInterval(fn, ms); }
// Answers can arrive out of order (an earlier, slower request after a later one): a view draws only
// the answer to its latest request. latest(view) marks a new request and returns its check.
const asked = {};
function latest(view) { const mine = (asked[view] = (asked[view] || 0) + 1); return () => asked[view] === mine; }
function saveTokens(t) {
  state.token = t.access_token; state.refresh = t.refresh_token;
  sessionStorage.setItem("ps.token", state.token); sessionStorage.setItem("ps.refresh", state.refresh);
}
function clearTokens() {
  state.token = state.refresh = state.me = null;
  sessionStorage.removeItem("ps.token"); sessionStorage.removeItem("ps.refresh");
  sessionStorage.removeItem("ps.purpose"); sessionStorage.removeItem("ps.case");
}

// ---- purpose (issue 17): why the user looks, stated once and remembered for the session ----
function purposeHeaders(headers) {
  const purpose = sessionStorage.getItem("ps.purpose"), kase = sessionStorage.getItem("ps.case");
  if (purpose) headers["X-Purpose"] = purpose;
  if (purpose && kase) headers["X-Case-Id"] = kase;
}
async function purposeFields(form) {
  const sel = form.querySelector("#q-purpose"), kase = form.querySelector("#q-case");
  const remember = () => { sessionStorage.setItem("ps.purpose", sel.value); sessionStorage.setItem("ps.case", kase.value.trim()); };
  sel.addEventListener("change", remember); kase.addEventListener("change", remember);
  try {
    const info = await api("/privacy/purposes");
    info.purposes.forEach((p) => sel.appendChild(Object.assign(document.createElement("option"), { value: p, textContent: p.replace(/_/g, " ") })));
    sel.required = info.required;
  } catch (err) { /* a search then answers with the reason */ }
  sel.value = sessionStorage.getItem("ps.purpose") || "";
  kase.value = sessionStorage.getItem("ps.case") || "";
  sel.dataset.ready = "1";
  return remember;
}
// The page's purpose selector must be chosen first (the role must state one and none is chosen).
function purposeMissing(form) { const sel = form.querySelector("#q-purpose"); return sel.required && !sel.value; }
// Reload a page's data when its purpose (or case) changes; purposeFields remembers it first.
function onPurposeChange(form, fn) { ["#q-purpose", "#q-case"].forEach((s) => form.querySelector(s).addEventListener("change", fn)); }

async function api(path, opts = {}, retry = true) {
  const headers = Object.assign({}, opts.headers || {});
  if (state.token) headers.Authorization = "Bearer " + state.token;
  purposeHeaders(headers);
  if (opts.json !== undefined) { headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(opts.json); }
  const resp = await fetch(API + path, Object.assign({}, opts, { headers }));
  if (resp.status === 401 && retry && state.refresh) {
    const r = await fetch(API + "/auth/refresh", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh_token: state.refresh }) });
    if (r.ok) { saveTokens(await r.json()); return api(path, opts, false); }
  }
  if (resp.status === 401) { clearTokens(); location.hash = "#login"; throw new Error("signed out"); }
  if (!resp.ok) {
    let detail = resp.statusText;
    try {
      const j = await resp.json();
      // a validation error names its field: "target: webhook URL refused: ..."
      detail = typeof j.detail === "string" ? j.detail : Array.isArray(j.detail)
        ? j.detail.map((d) => `${(d.loc || []).filter((l) => l !== "body").join(".")}: ${d.msg}`).join("; ") : JSON.stringify(j.detail);
    } catch (e) { /* not JSON */ }
    throw new Error(resp.status + ": " + detail);
  }
  const type = resp.headers.get("content-type") || "";
  return type.includes("json") ? resp.json() : resp;
}

function applyPerms(root) {
  const perms = new Set((state.me && state.me.permissions) || []);
  root.querySelectorAll("[data-perm]").forEach((el) => { el.hidden = !perms.has(el.dataset.perm); });
}

function mount(id) {
  const view = $("#view");
  view.replaceChildren($("#tpl-" + id).content.cloneNode(true));
  applyPerms(view);
  return view;
}

// ---- login ------------------------------------------------------------------------------
function showLogin() {
  $("#nav").hidden = true;
  mount("login");
  $("#login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = new URLSearchParams({ username: $("#login-user").value, password: $("#login-pass").value });
    const resp = await fetch(API + "/auth/token", { method: "POST", body });
    if (!resp.ok) { $("#login-error").textContent = resp.status === 429 ? "Too many attempts, wait a moment." : "Wrong username or password."; return; }
    saveTokens(await resp.json());
    go("#search");
  });
}

// ---- search -----------------------------------------------------------------------------
function searchParams(form) {
  const p = new URLSearchParams();
  for (const [k, v] of new FormData(form).entries()) {
    if (v === "" || v === null) continue;
    if (k === "since" || k === "until") p.set(k, new Date(v + "Z").toISOString());
    else if (k === "watchlist_only") p.set(k, "true");
    else p.set(k, v);
  }
  return p;
}

function eventRow(ev) {
  const tr = document.createElement("tr");
  tr.className = "row";
  tr.dataset.id = ev.event_id;
  const thumb = ev.thumbnail_url ? `<img class="thumb" alt="plate crop" src="${esc(ev.thumbnail_url)}">` : "";
  tr.innerHTML = `<td>${thumb}</td><td class="plate">${esc(ev.plate)}</td><td>${fmtTime(ev.ts)}</td><td>${esc(ev.camera_name || ev.camera_id)}</td>` +
    `<td>${esc(ev.site)}</td><td>${esc(ev.direction)}</td><td>${esc(ev.vehicle_type)}</td><td>${(ev.confidence * 100).toFixed(0)}%</td>` +
    `<td class="hit">${esc(hitsText(ev))}</td>`;
  tr.addEventListener("click", () => { location.hash = "#event/" + encodeURIComponent(ev.event_id); });
  return tr;
}

function showSearch() {
  mount("search");
  const form = $("#search-form");
  const remember = purposeFields(form);
  const run = async (append) => {
    (await remember)();
    const p = searchParams(form);
    if (append && state.cursor) p.set("cursor", state.cursor);
    const current = latest("search");
    $("#search-status").textContent = "Searching...";
    try {
      const page = await api("/events?" + p.toString());
      if (!current()) return;  // a newer search was asked meanwhile: its answer is the one to show
      const body = $("#results tbody");
      if (!append) body.replaceChildren();
      page.items.forEach((ev) => body.appendChild(eventRow(ev)));
      state.cursor = page.next_cursor;
      $("#more").hidden = !page.next_cursor;
      $("#search-status").textContent = `${body.children.length} event(s)` + (page.next_cursor ? ", more available" : "");
      sessionStorage.setItem("ps.lastSearch", p.toString());
    } catch (err) { if (current()) $("#search-status").textContent = err.message; }
  };
  form.addEventListener("submit", (e) => { e.preventDefault(); run(false); });
  $("#more").addEventListener("click", () => run(true));
  $("#export-csv").addEventListener("click", async (e) => {
    e.preventDefault();
    try {
      const resp = await api("/events/export?format=csv&" + searchParams(form).toString());
      const url = URL.createObjectURL(await resp.blob());
      const a = Object.assign(document.createElement("a"), { href: url, download: "plate-events.csv" });
      a.click(); URL.revokeObjectURL(url);
    } catch (err) { $("#search-status").textContent = err.message; }
  });
}

// ---- event detail -----------------------------------------------------------------------
async function showEvent(id) {
  mount("event");
  let ev;
  try { ev = await api("/events/" + encodeURIComponent(id)); } catch (err) { $("#ev-plate").textContent = err.message; return; }
  $("#ev-plate").innerHTML = `<span class="plate">${esc(ev.plate)}</span>`;
  $("#ev-images").innerHTML = ev.images.map((im) => `<figure><img class="event-image" data-kind="${esc(im.kind)}" alt="${esc(im.kind)} image" src="${esc(im.url)}"><figcaption>${esc(im.kind)}</figcaption></figure>`).join("") || "<p>No images.</p>";
  const fields = [["Time (UTC)", fmtTime(ev.ts)], ["Camera", ev.camera_name || ev.camera_id], ["Site / zone", [ev.site, ev.zone].filter(Boolean).join(" / ")],
    ["Direction", ev.direction], ["Vehicle", [ev.vehicle_color, ev.vehicle_make, ev.vehicle_model, ev.vehicle_type].filter(Boolean).join(" ")],
    ["Confidence", (ev.confidence * 100).toFixed(1) + "%"], ["Reads", ev.read_count], ["Variants", ev.variants.join(", ")],
    ["Watchlist hits", hitsText(ev)], ["Version", ev.version], ["Corrections", ev.corrections.map((c) => `${c.action} ${c.plate || ""} by ${c.user}`).join("; ")]];
  $("#ev-fields").innerHTML = fields.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join("");
  $("#ev-reads tbody").innerHTML = ev.reads.map((r) => `<tr><td class="plate">${esc(r.plate)}</td><td>${(r.confidence * 100).toFixed(0)}%</td><td>${fmtTime(r.ts)}</td><td>${esc(r.candidates.join(", "))}</td></tr>`).join("");
  $("#ev-timeline").href = "#timeline/" + encodeURIComponent(ev.plate);
  $("#correct-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const action = e.submitter ? e.submitter.value : "confirm";
    try {
      await api(`/events/${encodeURIComponent(id)}/corrections`, { method: "POST", json: { action, plate: e.target.plate.value || null } });
      $("#correct-status").textContent = action === "confirm" ? "Confirmed." : "Correction sent.";
    } catch (err) { $("#correct-status").textContent = err.message; }
  });
}

// ---- timeline ---------------------------------------------------------------------------
async function showTimeline(plate) {
  mount("timeline");
  try {
    const tl = await api("/plates/" + encodeURIComponent(plate) + "/timeline");
    $("#tl-title").innerHTML = `Timeline of <span class="plate">${esc(tl.plate)}</span> (${tl.stops.length} passages, ${tl.cameras.length} cameras)`;
    $("#tl-stops").innerHTML = tl.stops.map((s) => `<li><a href="#event/${encodeURIComponent(s.event_id)}">${fmtTime(s.ts)}</a> ${esc(s.camera_name || s.camera_id)} ${esc(s.site || "")} ${esc(s.direction || "")}` +
      (s.dwell_ms !== null ? ` &rarr; next after ${Math.round(s.dwell_ms / 1000)} s` : "") + "</li>").join("");
  } catch (err) { $("#tl-title").textContent = err.message; }
}

// ---- live -------------------------------------------------------------------------------
async function showLive() {
  mount("live");
  const form = $("#live-form");
  const connect = (camera, watchlist) => {
    if (state.ws) state.ws.close();
    const p = new URLSearchParams({ access_token: state.token });
    // A browser's WebSocket carries no headers: the stated purpose goes as query parameters.
    const purpose = sessionStorage.getItem("ps.purpose"), kase = sessionStorage.getItem("ps.case");
    if (purpose) p.set("purpose", purpose);
    if (purpose && kase) p.set("case_id", kase);
    if (camera) p.set("camera", camera);
    if (watchlist) p.set("watchlist", watchlist);
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${API}/live?${p}`);
    state.ws = ws;
    ws.onopen = () => { $("#live-status").textContent = "connected"; };
    ws.onclose = (e) => {
      const s = $("#live-status");
      if (s && state.ws === ws) s.textContent = e.code === 4422 ? `closed: ${e.reason}` : "disconnected";
    };
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      if (msg.type !== "event" && msg.type !== "alert") return;
      const d = msg.data;
      const li = document.createElement("li");
      li.innerHTML = msg.type === "alert"
        ? `<span class="hit">${esc(d.priority)}</span> <span class="plate">${esc(d.plate)}</span> ${esc(d.camera_name || d.camera_id)} ${fmtTime(d.ts)} ${esc(d.reason)}`
        : `<a href="#event/${encodeURIComponent(d.event_id)}"><span class="plate">${esc(d.plate)}</span></a> ${esc(d.camera_name || d.camera_id)} ${fmtTime(d.ts)} ${esc(d.direction || "")}`;
      const list = $(msg.type === "alert" ? "#live-alerts" : "#live-events");
      if (!list) return;
      list.prepend(li);
      while (list.children.length > 200) list.lastChild.remove();
      if (msg.dropped) $("#live-status").textContent = `connected (${msg.dropped} dropped while busy)`;
    };
  };
  const remember = await purposeFields(form);
  if (!form.isConnected) return;  // another page was mounted while we waited: it owns the view
  const follow = () => { remember(); connect(form.camera.value, form.watchlist.value); };
  form.addEventListener("submit", (e) => { e.preventDefault(); follow(); });
  onPurposeChange(form, () => { if (!purposeMissing(form)) follow(); });
  if (purposeMissing(form)) $("#live-status").textContent = "State a purpose to follow the live feed.";
  else follow();
}

// ---- review -----------------------------------------------------------------------------
async function showReview() {
  mount("review");
  const form = $("#review-form");
  const remember = await purposeFields(form);
  if (!form.isConnected) return;  // another page was mounted while we waited: it owns the view
  const reload = () => { remember(); loadReview().catch((err) => { $("#review-status").textContent = err.message; }); };
  form.addEventListener("submit", (e) => { e.preventDefault(); reload(); });
  onPurposeChange(form, () => { if (!purposeMissing(form)) reload(); });
  if (purposeMissing(form)) $("#review-status").textContent = "State a purpose to see the review queue.";
  else reload();
}

async function loadReview() {
  const page = await api("/review?limit=100");
  $("#review-status").textContent = `${page.items.length} event(s) below ${(page.threshold * 100).toFixed(0)}% confidence`;
  const body = $("#review tbody");
  body.replaceChildren();
  page.items.forEach((ev) => {
    const tr = document.createElement("tr");
    tr.innerHTML = `<td>${ev.thumbnail_url ? `<img class="thumb" alt="plate crop" src="${esc(ev.thumbnail_url)}">` : ""}</td><td class="plate">${esc(ev.plate)}</td>` +
      `<td>${fmtTime(ev.ts)}</td><td>${esc(ev.camera_id)}</td><td>${(ev.confidence * 100).toFixed(0)}%</td>` +
      `<td><button data-a="confirm">Confirm</button> <input size="9" placeholder="correct to"> <button data-a="correct">Correct</button></td>`;
    tr.querySelectorAll("button").forEach((b) => b.addEventListener("click", async () => {
      try {
        await api(`/events/${encodeURIComponent(ev.event_id)}/corrections`, { method: "POST", json: { action: b.dataset.a, plate: tr.querySelector("input").value || null } });
        tr.remove();
      } catch (err) { $("#review-status").textContent = err.message; }
    }));
    body.appendChild(tr);
  });
}

// ---- watchlists -------------------------------------------------------------------------
async function showWatchlists() {
  mount("watchlists");
  const load = async () => {
    const entries = await api("/watchlists/entries");
    $("#wl tbody").innerHTML = entries.map((e) => `<tr><td>${esc(e.list_id)}</td><td class="plate">${esc(e.pattern)}</td><td>${esc(e.match_type)}</td><td>${esc(e.priority)}</td><td>${esc(e.reason)}</td><td><button data-id="${esc(e.entry_id)}">Delete</button></td></tr>`).join("");
    $("#wl tbody").querySelectorAll("button").forEach((b) => b.addEventListener("click", async () => {
      await api("/watchlists/entries/" + encodeURIComponent(b.dataset.id), { method: "DELETE" }); load();
    }));
  };
  $("#wl-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = e.target;
    try {
      await api("/watchlists/entries", { method: "POST", json: { list_id: f.list_id.value, pattern: f.pattern.value, match_type: f.match_type.value, priority: f.priority.value, reason: f.reason.value } });
      f.pattern.value = ""; load();
    } catch (err) { $("#wl-status").textContent = err.message; }
  });
  $("#wl-import").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = e.target;
    try {
      const text = await f.file.files[0].text();
      const r = await api(`/watchlists/${encodeURIComponent(f.list_id.value)}/import`, { method: "POST", body: text, headers: { "Content-Type": "text/csv" } });
      $("#wl-status").textContent = `${r.imported} imported, ${r.errors.length} error(s)`; load();
    } catch (err) { $("#wl-status").textContent = err.message; }
  });
  try { await load(); } catch (err) { $("#wl-status").textContent = err.message; }
}

// ---- router -----------------------------------------------------------------------------
// Show ``hash``: one route() either way (setting a new hash fires hashchange, which routes;
// calling route() as well rendered the page twice, and the slower render replaced the other).
function go(hash) {
  if (location.hash === hash) route(); else location.hash = hash;
}

async function route() {
  if (state.ws && !location.hash.startsWith("#live")) { state.ws.close(); state.ws = null; }
  if (pageTimer) { clearInterval(pageTimer); pageTimer = null; }
  if (!state.token) { showLogin(); return; }
  if (!state.me) {
    try { state.me = await api("/auth/me"); } catch (err) { showLogin(); return; }
  }
  $("#nav").hidden = false;
  applyPerms($("#nav"));
  $("#who").textContent = `${state.me.name} (${state.me.role})`;
  const [name, arg] = location.hash.replace(/^#/, "").split("/");
  const views = { search: showSearch, event: () => showEvent(decodeURIComponent(arg || "")), timeline: () => showTimeline(decodeURIComponent(arg || "")),
    live: showLive, review: showReview, watchlists: showWatchlists };
  const page = PAGES[name];
  if (page) page(arg ? decodeURIComponent(arg) : undefined); else (views[name] || showSearch)();
}

$("#logout").addEventListener("click", () => { clearTokens(); go("#login"); });
window.addEventListener("hashchange", route);
route();
