// The LoRA console: plain DOM, no framework. Every text that comes from the server or a
// file (names, metadata, error details) goes through textContent, never through HTML.
(function () {
  "use strict";

  const USER_TYPES = ["clothes", "identities", "product", "styles"];
  const ADMIN_TYPES = ["clothes", "faces", "identities", "product", "styles"];
  const TOKEN_KEY = "lora-console-token";
  const CHUNK = 16 * 1024 * 1024;
  const SVG = "http://www.w3.org/2000/svg";

  const $ = (id) => document.getElementById(id);
  let token = null;
  let claims = {};
  let filesOffset = 0;
  let filesTotal = 0;
  let filesItems = [];

  // ---- small DOM helpers --------------------------------------------------------------

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function button(text, className, onClick) {
    const b = el("button", text, className);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function option(select, value, text) {
    const o = el("option", text === undefined ? value : text);
    o.value = value;
    select.appendChild(o);
  }

  function setError(id, message) {
    $(id).textContent = message || "";
  }

  function size(bytes) {
    if (bytes < 1024) return bytes + " B";
    const units = ["KiB", "MiB", "GiB", "TiB"];
    let v = bytes;
    let i = -1;
    do {
      v /= 1024;
      i += 1;
    } while (v >= 1024 && i < units.length - 1);
    return v.toFixed(1) + " " + units[i];
  }

  // ---- token --------------------------------------------------------------------------

  function decodePayload(jwt) {
    const parts = jwt.split(".");
    if (parts.length !== 3) throw new Error("This is not a JWT (three dot-separated parts).");
    let b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const payload = JSON.parse(new TextDecoder().decode(bytes));
    if (!payload || typeof payload !== "object") throw new Error("The token has no claims.");
    return payload;
  }

  function isAdmin() {
    return claims.role === "admin";
  }

  function signIn(value) {
    const t = value.trim();
    try {
      claims = decodePayload(t);
    } catch (e) {
      setError("signin-error", "Cannot read the token: " + e.message);
      return false;
    }
    token = t;
    sessionStorage.setItem(TOKEN_KEY, t);
    setError("signin-error", "");
    $("token").value = "";
    $("who-sub").textContent = claims.sub === undefined ? "(no sub)" : String(claims.sub);
    $("who-role").textContent = isAdmin() ? "admin" : "user";
    $("who").hidden = false;
    $("signin").hidden = true;
    $("app").hidden = false;
    for (const node of document.querySelectorAll(".admin-only")) node.hidden = !isAdmin();
    const entity = $("upload-entity");
    clear(entity);
    for (const t2 of isAdmin() ? ADMIN_TYPES : USER_TYPES) option(entity, t2);
    entity.value = "styles";
    if (isAdmin()) {
      filesOffset = 0;
      loadFiles();
      loadBin();
      const installEntity = $("install-entity");
      clear(installEntity);
      for (const t2 of ADMIN_TYPES) option(installEntity, t2);
      installEntity.value = "styles";
      loadInstalls();
    }
    return true;
  }

  function signOut() {
    token = null;
    claims = {};
    sessionStorage.removeItem(TOKEN_KEY);
    $("who").hidden = true;
    $("app").hidden = true;
    $("signin").hidden = false;
    clear($("uploads"));
    clear($("files-body"));
    clear($("bin-body"));
    clear($("installs-body"));
    clearTimeout(installsPolling);
    $("report-body").hidden = true;
    $("token").focus();
  }

  // ---- API ----------------------------------------------------------------------------

  // The `detail` of an error body: a string, or for 422 a list whose `msg`s are joined.
  function detailOf(status, text) {
    try {
      const body = JSON.parse(text);
      if (body && Array.isArray(body.detail)) {
        return body.detail.map((d) => (d && d.msg ? String(d.msg) : JSON.stringify(d))).join("; ");
      }
      if (body && body.detail !== undefined) return String(body.detail);
    } catch (_) {
      // not JSON: fall through
    }
    return "HTTP " + status + (text ? ": " + text.slice(0, 200) : "");
  }

  async function api(method, path, body) {
    const headers = { Authorization: "Bearer " + token };
    const init = { method, headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new Error("The server cannot be reached (" + e.message + ").");
    }
    const text = await res.text();
    if (!res.ok) {
      const detail = detailOf(res.status, text);
      throw new Error(res.status === 401 ? detail + " (sign in again?)" : detail);
    }
    return text ? JSON.parse(text) : null;
  }

  // ---- upload -------------------------------------------------------------------------

  function addUploads(fileList) {
    for (const file of Array.from(fileList)) startUpload(file);
  }

  function startUpload(file) {
    const entityType = $("upload-entity").value;
    const li = el("li", null, "upload");
    li.dataset.filename = file.name;
    const name = el("span", file.name, "name");
    const progress = el("progress");
    progress.max = 100;
    progress.value = 0;
    progress.setAttribute("aria-label", "Progress of " + file.name);
    const percent = el("span", "0 %", "percent");
    const pause = button("Pause", "pause", () => {
      upload.abort();
      pause.disabled = true;
      resume.disabled = false;
      status.textContent = "Paused";
    });
    const resume = button("Resume", "resume", () => {
      resume.disabled = true;
      pause.disabled = false;
      status.textContent = "Uploading…";
      upload.start();
    });
    resume.disabled = true;
    const status = el("div", "Uploading…", "status");
    status.setAttribute("aria-live", "polite");
    li.append(name, progress, percent, pause, resume, status);
    $("uploads").appendChild(li);

    let answer = {};
    const endpoint = isAdmin() ? "/api/v1/admin/lora/uploads" : "/api/v1/lora/uploads";
    const upload = new tus.Upload(file, {
      endpoint,
      chunkSize: CHUNK,
      retryDelays: [0, 1000, 3000],
      removeFingerprintOnSuccess: true,
      headers: { Authorization: "Bearer " + token },
      metadata: { filename: file.name, entity_type: entityType },
      onProgress(sent, total) {
        const p = total ? Math.floor((sent / total) * 100) : 100;
        progress.value = p;
        percent.textContent = p + " %";
      },
      onAfterResponse(_req, res) {
        const path = res.getHeader("Lora-Partial-Path");
        const sha = res.getHeader("Lora-Sha256");
        if (path) answer = { partial_path: path, sha256: sha };
      },
      onSuccess() {
        progress.value = 100;
        percent.textContent = "100 %";
        pause.disabled = true;
        resume.disabled = true;
        finished(li, status, upload, answer);
      },
      onError(err) {
        pause.disabled = true;
        resume.disabled = false;
        li.classList.add("failed");
        const res = err && err.originalResponse;
        status.textContent = res
          ? "Refused: " + detailOf(res.getStatus(), res.getBody() || "")
          : "Failed: " + (err && err.message ? err.message : String(err));
      },
    });
    upload.findPreviousUploads().then((previous) => {
      if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
      upload.start();
    });
  }

  async function finished(li, status, upload, answer) {
    let result = answer;
    if (!result.partial_path && upload.url) {
      try {
        result = await api("GET", new URL(upload.url, location.href).pathname);
      } catch (e) {
        status.textContent = "Stored, but its answer cannot be read: " + e.message;
        return;
      }
    }
    li.classList.add("done");
    clear(status);
    status.append(
      el("span", "Stored as "),
      el("code", result.partial_path, "partial-path"),
      el("span", " · SHA-256 "),
      el("code", result.sha256 || "", "sha256"),
      el("span", " "),
      button("Report", "report", () => openReport(result.partial_path)),
    );
    if (isAdmin()) loadFiles();
  }

  // ---- files --------------------------------------------------------------------------

  async function loadFiles() {
    const limit = Number($("files-limit").value);
    const params = new URLSearchParams({ limit: String(limit), offset: String(filesOffset) });
    if ($("files-entity").value) params.set("entity_type", $("files-entity").value);
    // Search, family and sort run on the server, over the whole catalogue.
    if ($("files-family").value) params.set("base_model", $("files-family").value);
    const query = $("files-search").value.trim();
    if (query) params.set("q", query);
    const [key, dir] = $("files-sort").value.split("-");
    const sorts = { date: "modified_at", size: "file_size", name: "name" };
    if (sorts[key]) {
      params.set("sort", sorts[key]);
      params.set("order", dir);
    }
    try {
      const list = await api("GET", "/api/v1/admin/lora?" + params);
      setError("files-error", "");
      filesItems = list.items;
      filesTotal = list.total;
      renderFiles();
      // Which query the table shows (tests wait for it; a slower, older answer is dropped).
      $("files-body").dataset.query = params.toString();
    } catch (e) {
      setError("files-error", e.message);
    }
  }

  // The families the server knows, from its own OpenAPI document.
  async function loadFamilies() {
    const family = $("files-family");
    option(family, "", "All");
    try {
      const response = await fetch("/openapi.json");
      const doc = await response.json();
      for (const f of doc.components.schemas.BaseModel.enum) option(family, f);
    } catch (e) {
      // Without the list, the filter offers "All" only.
    }
  }

  // The user's tags of a file, kept beside it (PATCH /api/v1/admin/lora/meta).
  async function editTags(f) {
    const now = ((f.meta && f.meta.tags) || []).join(", ");
    const text = window.prompt("Tags of " + f.partial_path + " (comma-separated)", now);
    if (text === null) return;
    const tags = text.split(",").map((t) => t.trim()).filter((t) => t);
    try {
      await api("PATCH", "/api/v1/admin/lora/meta", { partial_path: f.partial_path, tags });
      setError("files-error", "");
      loadFiles();
    } catch (e) {
      setError("files-error", e.message);
    }
  }

  // The user's metadata of a file, edited in a row under it (PATCH /api/v1/admin/lora/meta).
  function editMeta(tr, f) {
    const open = tr.nextSibling && tr.nextSibling.classList && tr.nextSibling.classList.contains("meta-row");
    if (open) {
      tr.parentNode.removeChild(tr.nextSibling);
      return;
    }
    const meta = f.meta || {};
    const row = el("tr", null, "meta-row");
    const cell = el("td");
    cell.colSpan = 7;
    const field = (label, value, name) => {
      const wrap = el("label", label + " ");
      const input = el("input");
      input.name = name;
      input.value = value;
      wrap.append(input);
      cell.append(wrap, " ");
      return input;
    };
    const description = field("Description", meta.description || "", "description");
    const triggers = field("Trigger words", (meta.trigger_words || []).join(", "), "trigger_words");
    const weight = field("Preferred weight", meta.preferred_weight === undefined ? "" : String(meta.preferred_weight), "preferred_weight");
    const list = (text) => text.split(",").map((t) => t.trim()).filter((t) => t);
    cell.append(
      button("Save", "save", async () => {
        const body = {
          partial_path: f.partial_path,
          description: description.value.trim() || null,
          trigger_words: list(triggers.value),
          preferred_weight: weight.value.trim() === "" ? null : Number(weight.value),
        };
        try {
          await api("PATCH", "/api/v1/admin/lora/meta", body);
          setError("files-error", "");
          loadFiles();
        } catch (e) {
          setError("files-error", e.message);
        }
      }),
    );
    row.append(cell);
    tr.parentNode.insertBefore(row, tr.nextSibling);
  }

  function renderFiles() {
    const limit = Number($("files-limit").value);
    const items = filesItems;
    const body = $("files-body");
    clear(body);
    for (const f of items) {
      const tr = el("tr");
      tr.dataset.path = f.partial_path;
      const sha = el("code", f.sha256 ? f.sha256.slice(0, 12) + "…" : "", "sha256");
      sha.title = f.sha256 || "";
      const name = el("td", f.filename, "name");
      // Fleet mode says whether this node holds the file; one machine leaves it out.
      if (typeof f.local === "boolean") {
        const where = el("span", f.local ? "local" : "remote", f.local ? "badge local" : "badge remote");
        where.title = f.local
          ? "On this node's disk"
          : "In the bucket, not on this node's disk: POST /api/v1/lora/ensure brings it";
        name.append(" ", where);
      }
      const tags = (f.meta && f.meta.tags) || [];
      if (tags.length) name.append(" ", el("span", tags.join(", "), "badge tags"));
      if (f.meta && f.meta.description) name.title = f.meta.description;
      const family = el("td", f.base_model ? f.base_model + (f.base_model_variant ? " " + f.base_model_variant : "") : "—", "family");
      if (f.trigger_words) family.title = "Trigger words: " + f.trigger_words.join(", ");
      tr.append(
        name,
        el("td", f.entity_type),
        family,
        el("td", size(f.file_size), "num"),
        el("td", f.modified_at.replace("T", " ").replace(/\.\d+/, "")),
      );
      const shaCell = el("td");
      shaCell.append(sha);
      const actions = el("td", null, "actions");
      actions.append(
        button("Copy SHA-256", "copy", () => copy(f.sha256, "files-error")),
        button("Report", "report", () => openReport(f.partial_path)),
        button("Tags", "tags", () => editTags(f)),
        button("Edit", "meta", () => editMeta(tr, f)),
        button("Delete", "delete danger", () => deleteFile(f.partial_path)),
      );
      tr.append(shaCell, actions);
      body.appendChild(tr);
    }
    if (!items.length) {
      const tr = el("tr");
      const filtered = $("files-search").value.trim() || $("files-family").value;
      const td = el("td", filtered ? "No file matches." : "No files.", "empty");
      td.colSpan = 7;
      tr.appendChild(td);
      body.appendChild(tr);
    }
    const last = Math.min(filesOffset + filesItems.length, filesTotal);
    $("files-page").textContent = filesTotal ? filesOffset + 1 + "–" + last + " of " + filesTotal : "0 of 0";
    $("files-prev").disabled = filesOffset === 0;
    $("files-next").disabled = filesOffset + limit >= filesTotal;
  }

  async function copy(text, errorId) {
    try {
      await navigator.clipboard.writeText(text);
      setError(errorId, "");
    } catch (e) {
      setError(errorId, "Cannot copy (" + e.message + "): " + text);
    }
  }

  async function deleteFile(path) {
    if (!confirm("Move " + path + " to the recycle bin?")) return;
    try {
      await api("DELETE", "/api/v1/admin/lora", { partial_path: path });
      setError("files-error", "");
    } catch (e) {
      setError("files-error", e.message);
    }
    loadFiles();
    loadBin();
  }

  // ---- bin ----------------------------------------------------------------------------

  async function loadBin() {
    let list;
    try {
      list = await api("GET", "/api/v1/admin/bin?limit=500");
      setError("bin-error", "");
    } catch (e) {
      setError("bin-error", e.message);
      return;
    }
    const body = $("bin-body");
    clear(body);
    for (const item of list.items) {
      const tr = el("tr");
      tr.dataset.path = item.bin_path;
      const actions = el("td", null, "actions");
      actions.append(
        button("Restore", "restore", () => binAction("POST", "/api/v1/admin/bin/restore", item.bin_path)),
        button("Purge", "purge danger", () => {
          if (confirm("Remove " + item.bin_path + " for good?")) binAction("DELETE", "/api/v1/admin/bin", item.bin_path);
        }),
      );
      tr.append(
        el("td", item.bin_path, "name"),
        el("td", item.partial_path),
        el("td", size(item.file_size), "num"),
        el("td", item.deleted_at.replace("T", " ").replace(/\.\d+/, "")),
        actions,
      );
      body.appendChild(tr);
    }
    if (!list.items.length) {
      const tr = el("tr");
      const td = el("td", "The bin is empty.", "empty");
      td.colSpan = 5;
      tr.appendChild(td);
      body.appendChild(tr);
    }
  }

  // ---- installs from a URL -----------------------------------------------------------

  let installsPolling = null;
  const RUNNING = ["queued", "downloading", "checking"];

  async function startInstall() {
    const body = { url: $("install-url").value.trim(), entity_type: $("install-entity").value };
    const name = $("install-name").value.trim();
    const sha = $("install-sha").value.trim();
    if (name) body.filename = name;
    if (sha) body.sha256 = sha.toLowerCase();
    try {
      await api("POST", "/api/v1/admin/lora/install", body);
      setError("install-error", "");
      $("install-url").value = "";
      $("install-name").value = "";
      $("install-sha").value = "";
    } catch (e) {
      setError("install-error", e.message);
    }
    loadInstalls();
  }

  // The jobs, polled every second while one runs; a job that ends refreshes the files.
  async function loadInstalls() {
    clearTimeout(installsPolling);
    let list;
    try {
      list = await api("GET", "/api/v1/admin/lora/install");
    } catch (e) {
      setError("install-error", e.message);
      return;
    }
    const body = $("installs-body");
    const before = new Map([...body.querySelectorAll("tr[data-id]")].map((tr) => [tr.dataset.id, tr.dataset.status]));
    clear(body);
    let running = false;
    let ended = false;
    for (const job of list.items.slice().reverse()) {
      running = running || RUNNING.includes(job.status);
      ended = ended || (job.status === "done" && before.get(job.id) !== undefined && before.get(job.id) !== "done");
      body.appendChild(installRow(job));
    }
    if (!list.items.length) {
      const tr = el("tr");
      const td = el("td", "No installs yet.", "empty");
      td.colSpan = 5;
      tr.appendChild(td);
      body.appendChild(tr);
    }
    if (ended) loadFiles();
    if (running && token) installsPolling = setTimeout(loadInstalls, 1000);
  }

  function installRow(job) {
    const tr = el("tr");
    tr.dataset.id = job.id;
    tr.dataset.status = job.status;
    const progress = el("td", null, "progress");
    if (job.status === "downloading" || job.status === "checking") {
      const bar = el("progress");
      bar.max = job.bytes_total || 1;
      bar.value = job.bytes_total ? job.bytes_done : 0;
      progress.append(bar);
    }
    const done = size(job.bytes_done) + (job.bytes_total ? " of " + size(job.bytes_total) : "");
    const rate = job.rate_bytes_per_sec ? " · " + size(job.rate_bytes_per_sec) + "/s" : "";
    progress.append(el("span", done + rate));
    const status = el("td", job.status, "status " + job.status);
    if (job.error) status.title = job.error;
    const actions = el("td", null, "actions");
    if (job.status === "queued" || job.status === "downloading") {
      actions.append(
        button("Cancel", "cancel danger", async () => {
          try {
            await api("DELETE", "/api/v1/admin/lora/install/" + encodeURIComponent(job.id));
          } catch (e) {
            setError("install-error", e.message);
          }
          loadInstalls();
        }),
      );
    }
    const stored = job.result ? job.result.partial_path : job.error || "";
    tr.append(el("td", job.url, "name"), status, progress, el("td", stored, job.error ? "error" : "stored"), actions);
    return tr;
  }

  async function binAction(method, path, binPath) {
    try {
      await api(method, path, { bin_path: binPath });
      setError("bin-error", "");
    } catch (e) {
      setError("bin-error", e.message);
    }
    loadBin();
    loadFiles();
  }

  // ---- report -------------------------------------------------------------------------

  async function openReport(path) {
    $("report-path").value = path;
    setError("report-error", "");
    let report;
    try {
      report = await api("POST", "/api/v1/evaluation/", { partial_path: path });
    } catch (e) {
      $("report-body").hidden = true;
      setError("report-error", e.message);
      return;
    }
    renderReport(report);
    $("report").scrollIntoView({ block: "start" });
  }

  function renderReport(r) {
    $("report-name").textContent = r.partial_path;
    const verdict = $("report-verdict");
    verdict.textContent = r.verdict;
    verdict.className = "verdict verdict-" + String(r.verdict).replace(/[^a-z]/g, "");

    const facts = $("report-facts");
    clear(facts);
    const fact = (k, v) => facts.append(el("dt", k), el("dd", v === null || v === undefined ? "—" : v));
    fact("Base model", r.base_model + (r.base_model_variant ? " (" + r.base_model_variant + ")" : ""));
    fact("Kind", r.kind);
    fact("Network type", r.network_type);
    fact("Rank / alpha", (r.rank === null ? "—" : r.rank) + " / " + (r.alpha === null ? "—" : r.alpha));
    fact("Modules", r.module_count);
    fact("Size", size(r.file_size));
    fact("SHA-256", r.sha256);

    const findings = $("report-findings");
    clear(findings);
    for (const f of r.findings || []) {
      const li = el("li", null, "finding severity-" + String(f.severity).replace(/[^a-z]/g, ""));
      li.append(el("span", f.severity, "severity"), el("code", f.code, "code"), el("span", f.message, "message"));
      findings.appendChild(li);
    }
    if (!findings.firstChild) findings.appendChild(el("li", "No findings."));

    renderChart(r.modules || []);

    const meta = $("report-metadata");
    clear(meta);
    const keys = Object.keys(r.metadata || {}).sort();
    for (const k of keys) {
      const tr = el("tr");
      tr.append(el("td", k, "key"), el("td", r.metadata[k], "value"));
      meta.appendChild(tr);
    }
    if (!keys.length) {
      const tr = el("tr");
      const td = el("td", "No metadata.", "empty");
      td.colSpan = 2;
      tr.appendChild(td);
      meta.appendChild(tr);
    }
    $("report-body").hidden = false;
  }

  // Per-module strengths as horizontal bars, strongest first (at most 60 modules).
  function renderChart(modules) {
    const box = $("report-chart");
    clear(box);
    if (!modules.length) {
      box.appendChild(el("p", "No per-module strengths in this report."));
      return;
    }
    const shown = modules.slice().sort((a, b) => b.strength - a.strength).slice(0, 60);
    const max = Math.max(...shown.map((m) => m.strength), 1e-12);
    const row = 18;
    const labelW = 340;
    const barW = 300;
    const width = labelW + barW + 80;
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 " + width + " " + shown.length * row);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "Strength per module");
    svg.classList.add("bars");
    shown.forEach((m, i) => {
      const y = i * row;
      const label = document.createElementNS(SVG, "text");
      label.setAttribute("x", String(labelW - 6));
      label.setAttribute("y", String(y + row - 5));
      label.setAttribute("text-anchor", "end");
      label.textContent = m.module.length > 48 ? "…" + m.module.slice(-47) : m.module;
      const title = document.createElementNS(SVG, "title");
      title.textContent = m.module + ": strength " + m.strength + ", rank " + m.rank + ", alpha " + m.alpha + ", scale " + m.scale;
      const rect = document.createElementNS(SVG, "rect");
      rect.setAttribute("x", String(labelW));
      rect.setAttribute("y", String(y + 3));
      rect.setAttribute("height", String(row - 6));
      rect.setAttribute("width", String(Math.max(1, (m.strength / max) * barW)));
      rect.appendChild(title);
      const value = document.createElementNS(SVG, "text");
      value.setAttribute("x", String(labelW + barW + 6));
      value.setAttribute("y", String(y + row - 5));
      value.textContent = Number(m.strength).toPrecision(3);
      svg.append(label, rect, value);
    });
    box.appendChild(svg);
    if (modules.length > shown.length) box.appendChild(el("p", "The " + shown.length + " strongest of " + modules.length + " modules."));
  }

  // ---- wiring -------------------------------------------------------------------------

  function init() {
    $("sign-in").addEventListener("click", () => signIn($("token").value));
    $("token").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey) {
        e.preventDefault();
        signIn($("token").value);
      }
    });
    $("sign-out").addEventListener("click", signOut);

    $("upload-files").addEventListener("change", (e) => {
      addUploads(e.target.files);
      e.target.value = "";
    });
    const drop = $("drop");
    drop.addEventListener("dragover", (e) => {
      e.preventDefault();
      drop.classList.add("over");
    });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (e) => {
      e.preventDefault();
      drop.classList.remove("over");
      if (e.dataTransfer && e.dataTransfer.files.length) addUploads(e.dataTransfer.files);
    });

    const entity = $("files-entity");
    option(entity, "", "All");
    for (const t of ADMIN_TYPES.concat(["no_type_provided"])) option(entity, t);
    entity.addEventListener("change", () => {
      filesOffset = 0;
      loadFiles();
    });
    $("files-limit").addEventListener("change", () => {
      filesOffset = 0;
      loadFiles();
    });
    let searching = null;
    $("files-search").addEventListener("input", () => {
      clearTimeout(searching);
      searching = setTimeout(() => {
        filesOffset = 0;
        loadFiles();
      }, 250);
    });
    for (const id of ["files-sort", "files-family"]) {
      $(id).addEventListener("change", () => {
        filesOffset = 0;
        loadFiles();
      });
    }
    loadFamilies();
    $("files-refresh").addEventListener("click", loadFiles);
    $("files-prev").addEventListener("click", () => {
      filesOffset = Math.max(0, filesOffset - Number($("files-limit").value));
      loadFiles();
    });
    $("files-next").addEventListener("click", () => {
      filesOffset += Number($("files-limit").value);
      loadFiles();
    });
    $("bin-refresh").addEventListener("click", loadBin);
    $("install-start").addEventListener("click", startInstall);
    $("install-url").addEventListener("keydown", (e) => {
      if (e.key === "Enter") startInstall();
    });
    $("report-open").addEventListener("click", () => {
      const p = $("report-path").value.trim();
      if (p) openReport(p);
    });
    $("report-path").addEventListener("keydown", (e) => {
      if (e.key === "Enter") $("report-open").click();
    });

    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (!saved || !signIn(saved)) $("token").focus();
  }

  if (typeof tus === "undefined" || !tus.isSupported) {
    document.addEventListener("DOMContentLoaded", () => {
      setError("signin-error", "This browser cannot run resumable uploads (tus-js-client).");
    });
  }
  init();
})();
