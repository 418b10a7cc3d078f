// ringstore console: vanilla JS over the management API. No external fetches.
"use strict";
const API = "/_admin/api/v1/";
const $ = (id) => document.getElementById(id);
let apiKey = sessionStorage.getItem("ringstore-api-key") || "";
let current = { bucket: null, prefix: "" };

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}
function say(msg, ok) {
  const s = $("status");
  s.textContent = msg || "";
  s.className = ok ? "ok" : "";
}
async function api(method, path, body) {
  const r = await fetch(API + path, {
    method,
    headers: { Authorization: "Bearer " + apiKey, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) {
    if (r.status === 401) signOut();
    throw new Error(data.message || r.statusText);
  }
  return data;
}
const enc = (s) => encodeURIComponent(s);

function show(view) {
  document.querySelectorAll(".view").forEach((v) => (v.hidden = v.id !== view + "-view"));
  document.querySelectorAll("nav a[data-view]").forEach((a) => a.classList.toggle("active", a.dataset.view === view));
}
let chartTimer = null;
async function route() {
  clearInterval(chartTimer);
  chartTimer = null;
  if (!apiKey) { $("nav").hidden = true; show("signin"); return; }
  $("nav").hidden = false;
  const view = (location.hash || "#dashboard").slice(1);
  try {
    if (view === "credentials") { show("credentials"); await loadCredentials(); }
    else if (view === "buckets") { show("buckets"); await loadBuckets(); }
    else if (view === "objects" && current.bucket) { show("objects"); await loadObjects(); }
    else if (view === "presign") { show("presign"); await loadPresign(); }
    else if (view === "limits") { show("limits"); await loadLimits(); }
    else {
      show("dashboard");
      await loadStats();
      await loadCharts();
      chartTimer = setInterval(() => loadCharts().catch((e) => say(e.message)), CHART_POLL_MS);
    }
  } catch (e) { say(e.message); }
}
function signOut() {
  apiKey = "";
  sessionStorage.removeItem("ringstore-api-key");
  route();
}

async function loadStats() {
  const s = await api("GET", "stats");
  const bytes = (n) => { const u = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]; let i = 0; while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; } return `${n.toFixed(i ? 1 : 0)} ${u[i]}`; };
  const up = (t) => t >= 86400 ? `${Math.floor(t / 86400)} d ${Math.floor((t % 86400) / 3600)} h` : t >= 3600 ? `${Math.floor(t / 3600)} h ${Math.floor((t % 3600) / 60)} min` : `${Math.floor(t / 60)} min ${t % 60} s`;
  const disk = s.disk_capacity_bytes == null ? "unknown" : `${bytes(s.disk_capacity_bytes - s.disk_free_bytes)} used, ${bytes(s.disk_free_bytes)} free`;
  const cards = [["Credentials", s.credentials], ["Buckets", s.buckets], ["Objects", s.objects],
    ["Storage", s.total_storage_human], ["Multipart uploads", s.active_multipart_uploads], ["Presigned URLs", s.active_presigned_urls],
    ["Disk", disk], ["Uptime", up(s.uptime_secs)], ["Version", `${s.version} (${s.commit.slice(0, 10)})`], ["Shards", s.shards]];
  $("stats").innerHTML = cards.map(([k, v]) => `<div class="card" data-card="${esc(k)}"><div class="v">${esc(v)}</div><div class="k">${esc(k)}</div></div>`).join("");
}

// ---- dashboard charts: GET stats/history, drawn as inline SVG ----------
const CHART_POLL_MS = 5000;
const CHART_W = 600, CHART_H = 150, CHART_PAD = 4;
const fmtBytes = (n) => { const u = ["B", "KiB", "MiB", "GiB", "TiB"]; let i = 0; while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; } return `${n.toFixed(i ? 1 : 0)} ${u[i]}`; };
const fmtRate = (n) => n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
const fmtMicros = (n) => n >= 1e6 ? `${(n / 1e6).toFixed(2)} s` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} ms` : `${Math.round(n)} µs`;

// One chart: a polyline per series over the points (null values break the
// line), the scale's top and the latest complete value of each series.
function chartSvg(name, title, points, series, fmt) {
  const values = points.flatMap((p) => series.map((s) => p[s.key])).filter((v) => v != null);
  const top = Math.max(...values, 0) || 1;
  const x = (i) => CHART_PAD + (i * (CHART_W - 2 * CHART_PAD)) / Math.max(points.length - 1, 1);
  const y = (v) => CHART_H - CHART_PAD - (v / top) * (CHART_H - 2 * CHART_PAD);
  const latest = [...points].reverse().find((p) => p.complete) || points[points.length - 1] || {};
  const lines = series.map((s) => {
    let d = "", pen = "M";
    points.forEach((p, i) => {
      const v = p[s.key];
      if (v == null) { pen = "M"; return; }
      d += `${pen}${x(i).toFixed(1)},${y(v).toFixed(1)} `;
      pen = "L";
    });
    // A value with no neighbour draws no line: a dot shows it.
    const lone = points.map((p, i) => [p[s.key], i]).filter(([v, i]) => v != null && points[i - 1]?.[s.key] == null && points[i + 1]?.[s.key] == null)
      .map(([v, i]) => `<circle cx="${x(i).toFixed(1)}" cy="${y(v).toFixed(1)}" r="2.5" fill="${s.color}"/>`).join("");
    return `<path d="${d.trim()}" fill="none" stroke="${s.color}" stroke-width="2" data-series="${esc(s.key)}"/>${lone}`;
  }).join("");
  const legend = series.map((s) => `<span class="legend" data-series="${esc(s.key)}" data-latest="${latest[s.key] ?? ""}"><i style="background:${s.color}"></i>${esc(s.label)} ${esc(latest[s.key] == null ? "–" : fmt(latest[s.key]))}</span>`).join("");
  return `<figure class="chart" data-chart="${esc(name)}" data-points="${points.length}">
    <figcaption>${esc(title)} ${legend}</figcaption>
    <svg viewBox="0 0 ${CHART_W} ${CHART_H}" preserveAspectRatio="none" role="img" aria-label="${esc(title)}">
      <line x1="0" y1="${CHART_H - CHART_PAD}" x2="${CHART_W}" y2="${CHART_H - CHART_PAD}" class="axis"/>${lines}
    </svg>
    <div class="scale"><span>${esc(fmt(top))}</span><span>last ${Math.round(points.length * (points[0]?.seconds || 5) / 60)} min</span></div>
  </figure>`;
}

async function loadCharts() {
  const h = await api("GET", "stats/history");
  const pts = h.points;
  $("charts").dataset.requests = pts.reduce((sum, p) => sum + p.requests, 0);
  $("charts").innerHTML = [
    chartSvg("requests", "Requests/s", pts, [{ key: "requests_per_sec", label: "requests", color: "#2f5fd0" }], fmtRate),
    chartSvg("bytes", "Bytes/s", pts, [
      { key: "bytes_in_per_sec", label: "in", color: "#1a7f37" },
      { key: "bytes_out_per_sec", label: "out", color: "#b26b00" }], (n) => `${fmtBytes(n)}/s`),
    chartSvg("latency", "Latency", pts, [
      { key: "p50_micros", label: "p50", color: "#2f5fd0" },
      { key: "p99_micros", label: "p99", color: "#b42318" }], fmtMicros),
  ].join("");
}

async function loadCredentials() {
  const { credentials } = await api("GET", "credentials");
  $("cred-rows").innerHTML = credentials.map((c) => `<tr data-id="${c.id}">
    <td>${c.id}</td><td>${esc(c.user_name)}</td><td><code>${esc(c.access_key)}</code></td>
    <td>${c.is_active ? "yes" : "no"}</td><td>${esc(c.created_at)}</td>
    <td class="actions">${c.id === 1 ? "root" : `<button class="secondary" data-act="toggle" data-active="${c.is_active}">${c.is_active ? "Deactivate" : "Activate"}</button>
      <button class="danger" data-act="delete">Delete</button>`}</td></tr>`).join("");
  return credentials;
}
$("cred-rows").addEventListener("click", async (ev) => {
  const b = ev.target.closest("button"); if (!b) return;
  const id = b.closest("tr").dataset.id;
  try {
    if (b.dataset.act === "toggle") await api("PUT", "credentials/" + id, { is_active: b.dataset.active !== "true" });
    if (b.dataset.act === "delete" && confirm("Delete credential " + id + "?")) await api("DELETE", "credentials/" + id);
    say("Done", true); await loadCredentials();
  } catch (e) { say(e.message); }
});
$("cred-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const c = await api("POST", "credentials", { user_name: $("cred-user").value });
    const box = $("secret-box");
    box.hidden = false;
    box.innerHTML = `Created credential ${c.id}. Copy the secret now — it is shown only once:<br>
      access key <code id="new-access-key">${esc(c.access_key)}</code><br>secret key <code id="new-secret-key">${esc(c.secret_key)}</code>`;
    $("cred-user").value = "";
    await loadCredentials();
  } catch (e) { say(e.message); }
});

async function fillCredentialSelect(sel, byAccessKey) {
  const { credentials } = await api("GET", "credentials");
  sel.innerHTML = credentials.filter((c) => c.is_active)
    .map((c) => `<option value="${esc(byAccessKey ? c.access_key : c.id)}">${esc(c.user_name || "(unnamed)")} — ${esc(c.access_key)}</option>`).join("");
}
async function loadBuckets() {
  await fillCredentialSelect($("bucket-owner"), false);
  const { buckets } = await api("GET", "buckets");
  $("bucket-rows").innerHTML = buckets.map((b) => `<tr data-name="${esc(b.name)}">
    <td><a href="#objects" data-act="open">${esc(b.name)}</a></td><td>${esc(b.owner)}</td>
    <td class="count">${b.object_count}${b.noncurrent_versions ? ` <span class="hint">+ ${b.noncurrent_versions} older version${b.noncurrent_versions === 1 ? "" : "s"}</span>` : ""}</td>
    <td>${esc(b.total_size_human)}</td><td>${esc(b.versioning)}</td><td>${esc(b.created_at)}</td>
    <td class="actions"><button class="danger" data-act="delete">Delete</button></td></tr>`).join("");
}
$("bucket-rows").addEventListener("click", async (ev) => {
  const t = ev.target.closest("[data-act]"); if (!t) return;
  const name = t.closest("tr").dataset.name;
  if (t.dataset.act === "open") {
    current = { bucket: name, prefix: "", owner: null };
    $("lifecycle-xml").value = ""; $("obj-detail").hidden = true;
    return;
  }
  try {
    if (confirm("Delete bucket " + name + "?")) { await api("DELETE", "buckets/" + enc(name)); say("Bucket deleted", true); }
    await loadBuckets();
  } catch (e) { say(e.message); }
});
$("bucket-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    await api("POST", "buckets", { name: $("bucket-name").value, owner_id: Number($("bucket-owner").value) });
    $("bucket-name").value = "";
    say("Bucket created", true); await loadBuckets();
  } catch (e) { say(e.message); }
});

// Objects are moved through presigned URLs signed with the bucket owner's key
// (the console itself never holds an S3 secret). They are the console's own,
// so they are not listed among the URLs users handed out (listed: false).
async function ownerAccessKey(bucket) {
  const { buckets } = await api("GET", "buckets");
  const owner = buckets.find((x) => x.name === bucket).owner_id;
  const { credentials } = await api("GET", "credentials");
  return (credentials.find((c) => c.id === owner && c.is_active) || credentials.find((c) => c.id === 1)).access_key;
}
async function presign(bucket, key, method) {
  const access_key = await ownerAccessKey(bucket);
  return (await api("POST", "presigned-urls", { bucket_name: bucket, object_key: key, method, expires_in: 300, access_key, listed: false })).url;
}
async function loadObjects() {
  const { bucket, prefix } = current;
  $("obj-bucket").textContent = bucket;
  const b = await api("GET", `buckets/${enc(bucket)}`);
  $("obj-versioning").textContent = b.versioning;
  $("obj-usage").textContent = `${b.object_count} object${b.object_count === 1 ? "" : "s"}` +
    (b.noncurrent_versions ? ` and ${b.noncurrent_versions} older version${b.noncurrent_versions === 1 ? "" : "s"}` : "") +
    `, ${b.total_size_human} stored`;
  $("versioning-enable").hidden = b.versioning === "Enabled";
  $("versioning-suspend").hidden = b.versioning !== "Enabled";
  $("obj-prefix").textContent = prefix ? "/ " + prefix : "";
  const page = await api("GET", `buckets/${enc(bucket)}/objects?prefix=${enc(prefix)}&delimiter=%2F`);
  const up = prefix ? `<tr><td colspan="5"><a href="#objects" class="folder" data-prefix="${esc(prefix.replace(/[^/]*\/$/, ""))}">..</a></td></tr>` : "";
  $("obj-rows").innerHTML = up + (page.prefixes || []).map((p) => `<tr><td colspan="5"><a href="#objects" class="folder" data-prefix="${esc(p)}">${esc(p.slice(prefix.length))}</a></td></tr>`).join("")
    + page.objects.map((o) => `<tr data-key="${esc(o.key)}"><td>${esc(o.key.slice(prefix.length))}</td><td>${esc(o.size_human)}</td>
      <td>${esc(o.content_type || "")}</td><td>${esc(o.created_at)}</td>
      <td class="actions"><button class="secondary" data-act="details">Details</button> <button class="secondary" data-act="download">Download</button> <button class="danger" data-act="delete">Delete</button></td></tr>`).join("");
  const { uploads } = await api("GET", `buckets/${enc(bucket)}/multipart-uploads`);
  $("upload-rows").innerHTML = uploads.length ? uploads.map((u) => `<tr data-key="${esc(u.object_key)}" data-id="${esc(u.upload_id)}"><td><code>${esc(u.upload_id)}</code></td><td>${esc(u.object_key)}</td>
    <td>${esc(u.initiated_by)}</td><td>${u.part_count}</td><td>${esc(u.total_size_human)}</td><td>${esc(u.initiated_at)}</td>
    <td class="actions"><button class="danger" data-act="abort">Abort</button></td></tr>`).join("")
    : `<tr><td colspan="7" class="hint">none</td></tr>`;
  await loadLifecycle();
}
async function loadLifecycle() {
  const l = await api("GET", `buckets/${enc(current.bucket)}/lifecycle`);
  const line = (r) => [r.id, r.enabled ? "enabled" : "disabled", `prefix "${r.prefix}"`,
    ...r.tags.map(([k, v]) => `tag ${k}=${v}`),
    r.expiration?.Days !== undefined ? `expire after ${r.expiration.Days} days` : r.expiration?.Date !== undefined ? `expire from ${new Date(r.expiration.Date).toISOString().slice(0, 10)}` : "",
    r.noncurrent_expiration ? `older versions after ${r.noncurrent_expiration.days} days` : "",
    r.abort_incomplete_days ? `abort uploads after ${r.abort_incomplete_days} days` : "",
    r.expired_object_delete_marker ? "remove expired delete markers" : ""].filter(Boolean).join(" · ");
  $("lifecycle-rules").innerHTML = l.rules.length ? l.rules.map((r) => `<li>${esc(line(r))}</li>`).join("") : `<li class="hint">none</li>`;
  $("lifecycle-remove").hidden = !l.rules.length;
  if (l.document && !$("lifecycle-xml").value) $("lifecycle-xml").value = l.document;
}
$("lifecycle-set").addEventListener("click", async () => {
  try {
    const r = await fetch(API + `buckets/${enc(current.bucket)}/lifecycle`, { method: "PUT",
      headers: { Authorization: "Bearer " + apiKey, "Content-Type": "application/xml" }, body: $("lifecycle-xml").value });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(data.message || r.statusText);
    say("Lifecycle rules set", true); await loadLifecycle();
  } catch (e) { say(e.message); }
});
$("lifecycle-remove").addEventListener("click", async () => {
  try {
    await api("DELETE", `buckets/${enc(current.bucket)}/lifecycle`);
    $("lifecycle-xml").value = "";
    say("Lifecycle rules removed", true); await loadLifecycle();
  } catch (e) { say(e.message); }
});
$("upload-rows").addEventListener("click", async (ev) => {
  const b = ev.target.closest("button[data-act=abort]"); if (!b) return;
  const { key, id } = b.closest("tr").dataset;
  try {
    await api("DELETE", `buckets/${enc(current.bucket)}/multipart-uploads/${enc(id)}?key=${enc(key)}`);
    say("Aborted the upload of " + key, true); await loadObjects();
  } catch (e) { say(e.message); }
});
$("obj-rows").addEventListener("click", async (ev) => {
  const f = ev.target.closest("a.folder");
  if (f) { ev.preventDefault(); current.prefix = f.dataset.prefix; await loadObjects().catch((e) => say(e.message)); return; }
  const b = ev.target.closest("button"); if (!b) return;
  const key = b.closest("tr").dataset.key;
  try {
    if (b.dataset.act === "details") {
      const o = await api("GET", `buckets/${enc(current.bucket)}/objects/${enc(key)}`);
      const rows = [["Key", o.key], ["Size", `${o.size_human} (${o.size} bytes)`], ["Content type", o.content_type], ["ETag", o.etag],
        ["Modified", o.created_at], ["Multipart", o.is_multipart ? `yes, ${o.part_count} parts` : "no"],
        ...Object.entries(o.metadata || {}).map(([k, v]) => ["x-amz-meta-" + k, v])];
      $("obj-detail").hidden = false;
      $("obj-detail").innerHTML = `<h3>Object details</h3><table>${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td><code>${esc(v)}</code></td></tr>`).join("")}</table>
        <h3>Versions</h3><table id="obj-versions"><thead><tr><th>Version ID</th><th>Size</th><th>ETag</th><th>Modified</th><th></th></tr></thead><tbody>${o.versions.map((v) =>
          `<tr><td><code>${esc(v.version_id)}</code></td><td>${v.delete_marker ? "delete marker" : esc(v.size_human)}</td><td><code>${esc(v.etag)}</code></td>
          <td>${esc(v.created_at)}</td><td>${v.is_latest ? "current" : ""}</td></tr>`).join("")}</tbody></table>`;
      $("obj-detail").scrollIntoView();
    } else if (b.dataset.act === "download") {
      // The browser follows the presigned link and streams the object to
      // disk itself (the URL is this origin's, so `download` applies).
      const a = document.createElement("a");
      a.href = await presign(current.bucket, key, "GET");
      a.download = key.split("/").pop();
      document.body.appendChild(a); a.click(); a.remove();
      say("Downloading " + key, true);
    } else if (b.dataset.act === "delete") {
      await api("DELETE", `buckets/${enc(current.bucket)}/objects/${enc(key)}`);
      say("Deleted " + key, true); await loadObjects();
    }
  } catch (e) { say(e.message); }
});
// Files from MULTIPART_FROM bytes on go up in PART_BYTES parts (S3's
// multipart upload, each request presigned), with a progress bar and a
// Cancel button that aborts the upload.
const PART_BYTES = 5 * 1024 * 1024;
const MULTIPART_FROM = 8 * 1024 * 1024;
let uploading = null;
async function presignStep(bucket, key, multipart) {
  const access_key = await ownerAccessKey(bucket);
  return (await api("POST", "presigned-urls", { bucket_name: bucket, object_key: key, expires_in: 3600, access_key, listed: false, multipart })).url;
}
// A PUT with upload progress (fetch has none): resolves to the ETag.
function putWithProgress(url, blob, onProgress, state) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    state.xhr = xhr;
    xhr.open("PUT", url);
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => xhr.status >= 200 && xhr.status < 300 ? resolve(xhr.getResponseHeader("ETag"))
      : reject(new Error("upload failed: " + xhr.status + " " + xhr.responseText));
    xhr.onerror = () => reject(new Error("upload failed: connection error"));
    xhr.onabort = () => reject(new Error("cancelled"));
    xhr.send(blob);
  });
}
function showProgress(done, total) {
  const p = $("upload-progress");
  p.hidden = false; p.max = total; p.value = done;
  $("upload-progress-text").textContent = `${Math.floor((100 * done) / total)} %`;
}
async function uploadFile(file, key) {
  const state = { cancelled: false, xhr: null, uploadId: null, bucket: current.bucket, key };
  uploading = state;
  $("upload-cancel").hidden = false;
  $("upload-btn").disabled = true;
  try {
    if (file.size < MULTIPART_FROM) {
      await putWithProgress(await presign(state.bucket, key, "PUT"), file, (n) => showProgress(n, file.size), state);
    } else {
      const r = await fetch(await presignStep(state.bucket, key, { step: "create" }), { method: "POST" });
      const text = await r.text();
      if (!r.ok) throw new Error("upload failed: " + r.status + " " + text);
      state.uploadId = new DOMParser().parseFromString(text, "application/xml").getElementsByTagName("UploadId")[0].textContent;
      const parts = [];
      for (let start = 0, n = 1; start < file.size; start += PART_BYTES, n++) {
        if (state.cancelled) throw new Error("cancelled");
        const url = await presignStep(state.bucket, key, { step: "part", upload_id: state.uploadId, part_number: n });
        const etag = await putWithProgress(url, file.slice(start, start + PART_BYTES), (sent) => showProgress(start + sent, file.size), state);
        parts.push(`<Part><PartNumber>${n}</PartNumber><ETag>${esc(etag)}</ETag></Part>`);
      }
      const done = await fetch(await presignStep(state.bucket, key, { step: "complete", upload_id: state.uploadId }),
        { method: "POST", body: `<CompleteMultipartUpload>${parts.join("")}</CompleteMultipartUpload>` });
      const answer = await done.text();
      if (!done.ok || answer.includes("<Error>")) throw new Error("completing the upload failed: " + done.status + " " + answer);
    }
    showProgress(file.size, file.size);
    say("Uploaded " + key, true);
  } catch (e) {
    if (state.cancelled) {
      if (state.uploadId) {
        const url = await presignStep(state.bucket, key, { step: "abort", upload_id: state.uploadId });
        await fetch(url, { method: "DELETE" });
      }
      say("Upload of " + key + " cancelled", true);
    } else { say(e.message); }
  } finally {
    uploading = null;
    $("upload-cancel").hidden = true;
    $("upload-btn").disabled = false;
    await loadObjects().catch((e) => say(e.message));
  }
}
$("upload-btn").addEventListener("click", async () => {
  const file = $("upload-file").files[0];
  if (!file) { say("Choose a file first"); return; }
  await uploadFile(file, current.prefix + file.name);
});
$("upload-cancel").addEventListener("click", () => {
  if (!uploading) return;
  uploading.cancelled = true;
  if (uploading.xhr) uploading.xhr.abort();
});
$("back-btn").addEventListener("click", () => { location.hash = "#buckets"; });
for (const [id, status] of [["versioning-enable", "Enabled"], ["versioning-suspend", "Suspended"]]) {
  $(id).addEventListener("click", async () => {
    try {
      await api("PUT", `buckets/${enc(current.bucket)}/versioning`, { status });
      say("Versioning " + status.toLowerCase(), true); await loadObjects();
    } catch (e) { say(e.message); }
  });
}

async function loadPresign() {
  await fillCredentialSelect($("ps-access"), true);
  const { urls } = await api("GET", "presigned-urls");
  $("ps-rows").innerHTML = urls.map((u) => `<tr><td>${esc(u.bucket_name)}</td><td>${esc(u.object_key)}</td><td>${esc(u.method)}</td>
    <td><code>${esc(u.access_key)}</code></td><td>${esc(u.expires_at)}</td></tr>`).join("");
}
$("presign-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const r = await api("POST", "presigned-urls", { bucket_name: $("ps-bucket").value, object_key: $("ps-key").value,
      method: $("ps-method").value, expires_in: Number($("ps-expires").value), access_key: $("ps-access").value });
    $("ps-url").textContent = (r.fields ? "POST " : "") + location.origin + r.url;
    // A POST is a browser form: its fields, ready to upload a file with.
    $("ps-form").innerHTML = r.fields
      ? `<form method="post" enctype="multipart/form-data" action="${esc(r.url)}">` +
        Object.entries(r.fields).map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`).join("") +
        `<pre>${esc(JSON.stringify(r.fields, null, 2))}</pre><input type="file" name="file"> <button type="submit">Upload</button></form>`
      : "";
    await loadPresign();
  } catch (e) { say(e.message); }
});

// Rate limits (docs/rate-limits.md): the API replaces all named limits at
// once, so a change reads them, edits one and writes them all back.
function limitCells(l) {
  if (!l) return `<td colspan="3" class="hint">none</td>`;
  return `<td>${esc(l.requests_per_sec)}</td><td>${esc(l.burst ?? l.requests_per_sec)}</td><td>${esc(l.bytes_per_sec ?? "—")}</td>`;
}
async function loadLimits() {
  const l = await api("GET", "rate-limits");
  const d = l.defaults;
  $("limit-default-rows").innerHTML = [["Every credential", d.credential], ["Every bucket", d.bucket],
    [`Every key prefix (depth ${d.prefix_depth})`, d.prefix]]
    .map(([k, v]) => `<tr><td>${esc(k)}</td>${limitCells(v)}</tr>`).join("");
  const rows = [];
  for (const [kind, label] of [["credentials", "credential"], ["buckets", "bucket"]]) {
    for (const [name, lim] of Object.entries(l[kind] || {})) {
      rows.push(`<tr data-kind="${kind}" data-name="${esc(name)}"><td>${label}</td><td><code>${esc(name)}</code></td>${limitCells(lim)}
        <td class="actions"><button class="danger" data-act="remove">Remove</button></td></tr>`);
    }
  }
  $("limit-rows").innerHTML = rows.join("") || `<tr><td colspan="6" class="hint">none</td></tr>`;
  const [{ credentials }, { buckets }] = await Promise.all([api("GET", "credentials"), api("GET", "buckets")]);
  $("limit-names").innerHTML = credentials.map((c) => `<option value="${esc(c.access_key)}">${esc(c.user_name || "credential")}</option>`)
    .concat(buckets.map((b) => `<option value="${esc(b.name)}">bucket</option>`)).join("");
}
async function changeNamedLimits(edit) {
  const l = await api("GET", "rate-limits");
  const named = { credentials: l.credentials || {}, buckets: l.buckets || {} };
  edit(named);
  await api("PUT", "rate-limits", named);
}
$("limit-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const limit = { requests_per_sec: Number($("limit-rate").value) };
  if ($("limit-burst").value !== "") limit.burst = Number($("limit-burst").value);
  if ($("limit-bytes").value !== "") limit.bytes_per_sec = Number($("limit-bytes").value);
  const kind = $("limit-kind").value, name = $("limit-name").value.trim();
  try {
    await changeNamedLimits((named) => { named[kind][name] = limit; });
    say("Limit set for " + name, true); await loadLimits();
  } catch (e) { say(e.message); }
});
$("limit-rows").addEventListener("click", async (ev) => {
  const b = ev.target.closest("button[data-act=remove]"); if (!b) return;
  const { kind, name } = b.closest("tr").dataset;
  try {
    await changeNamedLimits((named) => { delete named[kind][name]; });
    say("Limit removed for " + name, true); await loadLimits();
  } catch (e) { say(e.message); }
});

$("signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  apiKey = $("api-key").value.trim();
  try {
    await api("GET", "stats");
    sessionStorage.setItem("ringstore-api-key", apiKey);
    say("Signed in", true);
    location.hash = "#dashboard";
    route();
  } catch (e) { apiKey = ""; say("Sign-in failed: " + e.message); }
});
$("signout").addEventListener("click", signOut);
window.addEventListener("hashchange", () => { say(""); route(); });
route();
