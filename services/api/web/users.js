// Users and API keys page (admin): create users, disable or delete them; create keys (shown once)
// and revoke them.
"use strict";

async function loadUsers() {
  const users = await api("/users");
  $("#users tbody").innerHTML = users.map((u) => `<tr data-id="${esc(u.username)}"><td>${esc(u.username)}</td><td>${esc(u.role)}</td><td>${u.disabled ? "yes" : "no"}</td>` +
    `<td><button data-a="toggle">${u.disabled ? "Enable" : "Disable"}</button> <button data-a="delete">Delete</button></td></tr>`).join("");
  $("#users tbody").querySelectorAll("button").forEach((b) => b.addEventListener("click", async () => {
    const tr = b.closest("tr"), path = "/users/" + encodeURIComponent(tr.dataset.id);
    try {
      if (b.dataset.a === "delete") await api(path, { method: "DELETE" });
      else await api(path, { method: "PATCH", json: { disabled: b.textContent === "Disable" } });
      await loadUsers();
    } catch (err) { $("#user-status").textContent = err.message; }
  }));
}

async function loadKeys() {
  const keys = await api("/api-keys");
  $("#keys tbody").innerHTML = keys.map((k) => `<tr data-id="${esc(k.key_id)}"><td><code>${esc(k.key_id)}</code></td><td>${esc(k.name)}</td><td>${esc(k.owner)}</td><td>${esc(k.role)}</td><td>${fmtTime(k.created_at)}</td>` +
    `<td><button>Revoke</button></td></tr>`).join("");
  $("#keys tbody").querySelectorAll("button").forEach((b) => b.addEventListener("click", async () => {
    try { await api("/api-keys/" + encodeURIComponent(b.closest("tr").dataset.id), { method: "DELETE" }); await loadKeys(); } catch (err) { $("#key-status").textContent = err.message; }
  }));
}

async function showUsers() {
  mount("users");
  $("#user-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = e.target;
    try {
      await api("/users", { method: "POST", json: { username: f.username.value, role: f.role.value, password: f.password.value } });
      f.username.value = f.password.value = ""; $("#user-status").textContent = "Created."; await loadUsers();
    } catch (err) { $("#user-status").textContent = err.message; }
  });
  $("#key-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = e.target;
    try {
      const k = await api("/api-keys", { method: "POST", json: { name: f.name.value, role: f.role.value } });
      const p = $("#key-secret");
      p.hidden = false; p.innerHTML = `Key for <b>${esc(k.name)}</b> (shown only now): <code id="key-secret-value">${esc(k.api_key)}</code>`;
      f.name.value = ""; await loadKeys();
    } catch (err) { $("#key-status").textContent = err.message; }
  });
  try { await Promise.all([loadUsers(), loadKeys()]); } catch (err) { $("#user-status").textContent = err.message; }
}

(window.PAGES = window.PAGES || {}).users = showUsers;
