// Alert routes page: webhook, MQTT, e-mail and Kafka routes with what they receive (watchlist alerts,
// anomalies by kind), list and priority filters,
// enable/disable and a test send that answers how the delivery went.
"use strict";

let editingRoute = null;  // route id being edited (PUT; secrets not re-entered are kept)

function editRoute(r) {
  const f = $("#route-form");
  for (const k of ["name", "channel", "target", "min_priority", "host", "port", "username", "tls", "sender"]) f[k].value = r[k] ?? "";
  f.lists.value = r.lists.join(", ");
  const kinds = r.kinds || ["watchlist"];
  f.querySelectorAll("input[name=kinds]").forEach((el) => { el.checked = kinds.includes(el.value); });
  f.password.value = f.secret.value = "";
  routeFieldsFor(f);
  editingRoute = r.route_id;
  $("#route-create").textContent = "Save";
}

async function loadRoutes() {
  const routes = await api("/alert-routes");
  const body = $("#routes tbody");
  body.innerHTML = routes.map((r) => `<tr data-id="${esc(r.route_id)}"><td>${esc(r.name || r.route_id)}</td><td>${esc(r.channel)}</td>` +
    `<td class="target">${esc(r.target)}${r.host ? ` <small>via ${esc(r.host)}:${r.port || ""}${r.tls !== "none" ? " " + esc(r.tls) : ""}</small>` : ""}</td>` +
    `<td>${esc((r.kinds || ["watchlist"]).join(", "))}</td><td>${esc(r.lists.join(", ") || "all")}</td><td>${esc(r.min_priority)}</td>` +
    `<td><label class="check"><input type="checkbox" class="route-enabled"${r.enabled ? " checked" : ""}> on</label></td>` +
    `<td><button class="route-test">Send test</button> <span class="route-result"></span></td><td><button class="route-edit">Edit</button> <button class="route-delete">Delete</button></td></tr>`).join("");
  body.querySelectorAll("tr").forEach((tr) => {
    const path = "/alert-routes/" + encodeURIComponent(tr.dataset.id);
    const result = tr.querySelector(".route-result");
    tr.querySelector(".route-test").addEventListener("click", async () => {
      result.textContent = "sending...";
      try {
        const t = await api(path + "/test", { method: "POST" });
        result.className = "route-result " + (t.status === "delivered" ? "ok" : "error");
        result.textContent = t.status === "delivered" ? "delivered" : "failed: " + (t.error || "");
      } catch (err) { result.textContent = err.message; }
    });
    tr.querySelector(".route-enabled").addEventListener("change", async (e) => {
      try { await api(path, { method: "PATCH", json: { enabled: e.target.checked } }); } catch (err) { result.textContent = err.message; }
    });
    tr.querySelector(".route-edit").addEventListener("click", () => editRoute(routes.find((r) => r.route_id === tr.dataset.id)));
    tr.querySelector(".route-delete").addEventListener("click", async () => { await api(path, { method: "DELETE" }); loadRoutes(); });
  });
}

function routeFieldsFor(form) {
  const ch = form.channel.value;
  form.querySelectorAll(".ch").forEach((el) => { el.hidden = !el.classList.contains("ch-" + ch); });
}

async function showRoutes() {
  mount("routes");
  editingRoute = null;
  const form = $("#route-form");
  form.channel.addEventListener("change", () => routeFieldsFor(form));
  routeFieldsFor(form);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = e.target;
    const body = { name: f.name.value, channel: f.channel.value, target: f.target.value, min_priority: f.min_priority.value,
      lists: f.lists.value.split(",").map((x) => x.trim()).filter(Boolean),
      kinds: Array.from(f.querySelectorAll("input[name=kinds]:checked")).map((el) => el.value) };
    if (body.channel === "mqtt" || body.channel === "email") {
      Object.assign(body, { host: f.host.value || null, port: f.port.value ? Number(f.port.value) : null, username: f.username.value || null, tls: f.tls.value });
      if (f.password.value) body.password = f.password.value;
      if (body.channel === "email" && f.sender.value) body.sender = f.sender.value;
    }
    if (body.channel === "webhook" && f.secret.value) body.secret = f.secret.value;
    try {
      const r = editingRoute
        ? await api("/alert-routes/" + encodeURIComponent(editingRoute), { method: "PUT", json: body })
        : await api("/alert-routes", { method: "POST", json: body });
      $("#route-status").textContent = editingRoute ? "Saved." : "Created.";
      editingRoute = null; $("#route-create").textContent = "Create";
      const s = $("#route-secret");
      s.hidden = !r.secret;
      if (r.secret) s.innerHTML = `Signing secret (shown only now): <code>${esc(r.secret)}</code>`;
      f.password.value = f.secret.value = "";
      await loadRoutes();
    } catch (err) { $("#route-status").textContent = err.message; }
  });
  try { await loadRoutes(); } catch (err) { $("#route-status").textContent = err.message; }
}

(window.PAGES = window.PAGES || {}).routes = showRoutes;
