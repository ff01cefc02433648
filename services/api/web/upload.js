// Upload page: a video sent to POST /uploads with upload progress (XHR), then the ingest job's
// state and frame counts, then the plate events made from that job's frames
// (GET /uploads/{job}/events).
"use strict";

function sendFile(path, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", API + path);
    xhr.setRequestHeader("Authorization", "Bearer " + state.token);
    xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded, e.total); };
    xhr.onload = () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new Error(xhr.status + ": " + (body.detail || xhr.statusText)));
    };
    xhr.onerror = () => reject(new Error("upload failed: network error"));
    xhr.send(file);
  });
}

function showJob(job) {
  const fields = [["Job", job.job_id], ["State", job.state], ["Progress", `${Math.round((job.progress || 0) * 100)}%`],
    ["Frames read", job.frames_read], ["Frames sent", job.frames_sent], ["Frames in file", job.frames_total ?? "unknown"], ["Error", job.error || ""]];
  $("#upload-job").innerHTML = fields.map(([k, v]) => `<dt>${esc(k)}</dt><dd class="job-${esc(k.toLowerCase().replace(/ /g, "-"))}">${esc(v)}</dd>`).join("");
}

async function followJob(job) {
  const path = "/uploads/" + encodeURIComponent(job.job_id);
  const tick = async () => {
    showJob(await api(path));
    const body = $("#upload-events tbody"), note = $("#upload-events-note");
    try {
      const items = await api(path + "/events");
      if (body) { body.replaceChildren(); items.forEach((ev) => body.appendChild(eventRow(ev))); }
      if (note) note.textContent = "";
    } catch (err) { if (note) note.textContent = err.message; } // e.g. no purpose stated yet
  };
  await tick();
  every(1500, () => tick().catch(() => {}));
}

function showUpload() {
  mount("upload");
  const purposeForm = $("#upload-purpose");
  purposeForm.addEventListener("submit", (e) => e.preventDefault());
  purposeFields(purposeForm);
  $("#upload-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = e.target, file = f.file.files[0], camera = f.camera_id.value;
    const p = new URLSearchParams({ camera_id: camera, filename: file.name });
    try {
      const job = await sendFile("/uploads?" + p, file, (sent, total) => {
        $("#upload-progress").value = Math.round((sent / total) * 100);
        $("#upload-sent").textContent = `${Math.round(sent / 1024)} of ${Math.round(total / 1024)} KiB sent`;
      });
      $("#upload-progress").value = 100;
      showJob(job);
      await followJob(job);
    } catch (err) { $("#upload-sent").textContent = err.message; }
  });
}

(window.PAGES = window.PAGES || {}).upload = showUpload;
