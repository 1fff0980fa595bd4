// Activity Explorer page: plain JS, no build, no CDN. State lives in the URL hash (shareable links), one
// history entry per change (pushState), so Back and Forward step through views; inside the Airflow UI
// the state is mirrored into the address bar too (see mirrorToAirflow). Every URL is relative to the
// page, so it works under any mount point or proxy prefix.
"use strict";

const $ = (selector) => document.querySelector(selector);
const SVG_NS = "http://www.w3.org/2000/svg";
const SHORT_ID_COLUMNS = new Set(["branch", "deploy", "app", "organization"]);

let COLUMNS = [];
let OP_LABELS = {};
let state = null;
let loadSeq = 0;

// ---------------------------------------------------------------- state <-> URL hash

function readState() { return ExplorerState.fromHash(location.hash); }

function stateHash(value) { return ExplorerState.toHash(value); }

function setState(changes) {
  const next = Object.assign({}, state, changes);
  history.pushState(null, "", stateHash(next));
  render();
}

// Airflow (3.3.2+) shows this page in an iframe at <base>/plugin/<url_route> and rebuilds the frame's
// URL from what follows: <base>/plugin/<url_route><frame path><frame query><frame hash>. It copies the
// frame's location into the address bar only when the frame loads a document, so the state changes
// made here (history.pushState, no load) are copied by this function: replaceState on the parent, as
// Airflow does, so that the frame's own history entries drive Back and Forward. The address bar is then
// the link to share, and Back from a page the explorer linked to (a DAG run) restores the view.
function mirrorToAirflow() {
  const link = airflowUrl() || location.href;
  const share = $("#share-link");
  if (share) share.href = link;
  if (window.parent === window) return;
  try {
    const parent = window.parent;
    const current = parent.location.pathname + parent.location.search + parent.location.hash;
    const wanted = airflowUrl(true);
    if (wanted && wanted !== current) parent.history.replaceState(parent.history.state, "", wanted);
  } catch (error) { /* a cross-origin or sandboxed parent: the frame's own URL still holds the state */ }
}

// The Airflow UI's URL showing this view (absolute, or a path when `pathOnly`), null outside Airflow.
function airflowUrl(pathOnly) {
  if (window.parent === window) return null;
  try {
    const where = window.parent.location;
    const path = ExplorerState.airflowPath(where.pathname, location.pathname, location.search, location.hash);
    if (path === null) return null;
    return pathOnly ? path : `${where.origin}${path}`;
  } catch (error) { return null; }
}

async function copyLink(event) {
  event.preventDefault();
  const link = event.currentTarget.href;
  const note = $("#share-note");
  try {
    await navigator.clipboard.writeText(link);
    note.textContent = "Copied.";
  } catch (error) {
    note.textContent = "Right-click the link to copy it.";
  }
  setTimeout(() => { note.textContent = ""; }, 3000);
}

// ---------------------------------------------------------------- API

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  options.credentials = "same-origin";
  const response = await fetch(path, options);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (error) { data = null; }
  if (!response.ok) {
    const error = new Error(describeError(response.status, data, text));
    error.status = response.status;
    throw error;
  }
  return data;
}

function describeError(status, data, text) {
  const detail = data && data.detail;
  let message;
  if (Array.isArray(detail)) {
    message = detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
  } else {
    message = detail || text || "no detail";
  }
  if (status === 401 || status === 403) return `Not signed in to Airflow (${status}): ${message}. Sign in, then reload.`;
  if (status === 503) return `Warehouse unavailable: ${message}`;
  return `Request failed (${status}): ${message}`;
}

function showError(error) {
  const box = $("#error");
  if (!error) { box.hidden = true; box.textContent = ""; return; }
  box.hidden = false;
  box.textContent = error.message || String(error);
}

// ---------------------------------------------------------------- formatting

function fmtTime(value) { return value ? value.replace("T", " ").replace(/\.\d+$/, "").replace(/Z$/, "") : ""; }
function fmtNumber(value, digits) { return value === null || value === undefined ? "" : Number(value).toFixed(digits); }
function pct(value) { return `${(100 * value).toFixed(value === 1 || value === 0 ? 0 : 1)}%`; }

function cellText(column, value) {
  if (value === null || value === undefined) return "";
  if (column.kind === "timestamp") return fmtTime(value);
  if (column.name === "csat") return fmtNumber(value, 1);
  if (SHORT_ID_COLUMNS.has(column.name)) return value.length > 12 ? `${value.slice(0, 8)}…` : value;
  return String(value);
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

// Datetime-local inputs hold naive UTC; the API reads naive timestamps as UTC.
function toInput(value) { return value ? value.slice(0, 19) : ""; }
function fromInput(value) { return value ? (value.length === 16 ? `${value}:00` : value) : null; }
function hourCeil(iso) {
  const date = new Date(`${iso.slice(0, 19)}Z`);
  date.setUTCMinutes(0, 0, 0);
  date.setUTCHours(date.getUTCHours() + 1);
  return date;
}
function isoNaive(date) { return date.toISOString().slice(0, 19); }

// ---------------------------------------------------------------- charts (inline SVG)

function svg(width, height) {
  const node = document.createElementNS(SVG_NS, "svg");
  node.setAttribute("viewBox", `0 0 ${width} ${height}`);
  node.setAttribute("width", "100%");
  node.setAttribute("role", "img");
  return node;
}
function shape(parent, tag, attrs, title) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (title) { const t = document.createElementNS(SVG_NS, "title"); t.textContent = title; node.append(t); }
  parent.append(node);
  return node;
}
function text(parent, x, y, content, attrs) {
  const node = shape(parent, "text", Object.assign({ x, y }, attrs || {}));
  node.textContent = content;
  return node;
}
function legend(items) {
  return el("div", { class: "legend" },
    ...items.map(([color, label]) => el("span", {}, el("span", { class: "swatch", style: `background:${color}` }), label)));
}
function niceMax(value) {
  if (value <= 5) return 5;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((m) => m * magnitude).find((m) => m >= value);
}

function drawTimeChart(target, bucket, series) {
  target.replaceChildren();
  $("#time-caption").textContent = `Sessions started / completed per ${bucket}`;
  if (!series.length) { target.append(el("p", { class: "muted" }, "No sessions in this range.")); return; }
  const W = 640, H = 200, left = 34, bottom = 22, top = 8, plotW = W - left - 6, plotH = H - top - bottom;
  const chart = svg(W, H);
  const max = niceMax(Math.max(1, ...series.map((p) => Math.max(p.sessions_started, p.sessions_completed))));
  for (let i = 0; i <= 4; i += 1) {
    const y = top + plotH - (plotH * i) / 4;
    shape(chart, "line", { x1: left, x2: W - 6, y1: y, y2: y, stroke: "#e2e8f0" });
    text(chart, left - 4, y + 3, String(Math.round((max * i) / 4)), { "text-anchor": "end" });
  }
  const slot = plotW / series.length, barW = Math.max(1, Math.min(14, (slot - 2) / 2));
  const labelEvery = Math.ceil(series.length / 12);
  series.forEach((point, i) => {
    const x = left + i * slot + (slot - 2 * barW) / 2;
    const label = fmtTime(point.bucket_start);
    const hS = (plotH * point.sessions_started) / max, hC = (plotH * point.sessions_completed) / max;
    shape(chart, "rect", { x, y: top + plotH - hS, width: barW, height: hS, fill: "#017cee" },
      `${label}: ${point.sessions_started} started`);
    shape(chart, "rect", { x: x + barW, y: top + plotH - hC, width: barW, height: hC, fill: "#22a06b" },
      `${label}: ${point.sessions_completed} completed`);
    if (i % labelEvery === 0) {
      const tick = { hour: label.slice(11, 16), day: label.slice(5, 10), month: label.slice(0, 7) }[bucket] || label.slice(0, 4);
      text(chart, left + i * slot + slot / 2, H - 6, tick, { "text-anchor": "middle" });
    }
  });
  target.append(chart, legend([["#017cee", "started"], ["#22a06b", "completed (session_end)"]]));
}

function drawBars(target, rows, bars, emptyText) {
  // rows: [{label, title, values: [v...]}], bars: [{color, max, format}]
  target.replaceChildren();
  if (!rows.length) { target.append(el("p", { class: "muted" }, emptyText)); return; }
  const rowH = 12 * bars.length + 10, W = 420, labelW = 92, valueW = 62, H = rows.length * rowH + 4;
  const chart = svg(W, H), plotW = W - labelW - valueW;
  rows.forEach((row, r) => {
    const y0 = 2 + r * rowH;
    text(chart, 0, y0 + (rowH - 4) / 2 + 3, row.label, { class: "label" }).append(
      Object.assign(document.createElementNS(SVG_NS, "title"), { textContent: row.title }));
    bars.forEach((bar, b) => {
      const value = row.values[b];
      const y = y0 + b * 12;
      shape(chart, "rect", { x: labelW, y, width: plotW, height: 10, fill: "#f1f5f9" });
      if (value !== null && value !== undefined) {
        shape(chart, "rect", { x: labelW, y, width: Math.max(1, (plotW * value) / bar.max), height: 10, fill: bar.color },
          `${row.title}: ${bar.format(value)}`);
      }
      text(chart, labelW + plotW + 4, y + 9, value === null || value === undefined ? "–" : bar.format(value));
    });
  });
  target.append(chart, legend(bars.map((bar) => [bar.color, bar.name])));
}

function drawCharts(data) {
  drawTimeChart($("#chart-time"), data.bucket, data.sessions_over_time);
  const short = (id) => (id && id.length > 12 ? `${id.slice(0, 8)}…` : id || "(none)");
  drawBars($("#chart-apps"), data.apps.map((a) => ({
    label: short(a.app), title: `${a.app}: ${a.sessions} sessions, ${a.csat_responses} CSAT responses`,
    values: [a.completion_rate, a.avg_csat],
  })), [
    { name: "completion rate", color: "#22a06b", max: 1, format: pct },
    { name: "average CSAT (1–5)", color: "#f59e0b", max: 5, format: (v) => v.toFixed(2) },
  ], "No sessions in this range.");
  drawBars($("#chart-services"), data.services.map((s) => ({
    label: s.service || "(none)", title: `${s.service}: ${s.errors} errors of ${s.events} events`,
    values: [s.error_rate],
  })), [{ name: "error rate (error or timeout)", color: "#e5484d", max: Math.max(0.05, ...data.services.map((s) => s.error_rate)), format: pct }],
  "No platform events in this range.");
}

// ---------------------------------------------------------------- journeys table

function columnByName(name) { return COLUMNS.find((c) => c.name === name); }

function renderHeader() {
  const row = el("tr");
  for (const column of COLUMNS) {
    const key = state.sort.findIndex((s) => s.column === column.name);
    const arrow = key < 0 ? "" : state.sort[key].direction === "asc" ? " ▲" : " ▼";
    const sorter = el("span", {
      class: "sort", title: `${column.description}. Click to sort; shift-click to add a sort key.`,
      "data-testid": `sort-${column.name}`,
      onclick: (event) => sortBy(column.name, event.shiftKey),
    }, column.label + arrow + (key > 0 ? String(key + 1) : ""));
    const funnel = el("button", {
      type: "button", class: "funnel", title: `Filter on ${column.label}`, "data-testid": `filter-on-${column.name}`,
      onclick: () => { $("#filter-form [name=column]").value = column.name; updateOps(); $("#filter-form [name=value]").focus(); },
    }, "⚲");
    row.append(el("th", { "data-column": column.name }, sorter, funnel));
  }
  $("#journeys thead").replaceChildren(row);
}

function sortBy(name, add) {
  const existing = state.sort.find((s) => s.column === name);
  let sort;
  if (add) {
    sort = existing ? state.sort.map((s) => (s.column === name ? { column: name, direction: s.direction === "asc" ? "desc" : "asc" } : s))
      : [...state.sort, { column: name, direction: "asc" }];
  } else {
    const first = state.sort[0];
    sort = [{ column: name, direction: first.column === name && first.direction === "asc" ? "desc" : "asc" }];
  }
  setState({ sort, page: 1 });
}

function renderRows(page) {
  const body = $("#journeys tbody");
  body.replaceChildren();
  for (const journey of page.rows) {
    const row = el("tr", { "data-journey-id": journey.journey_id, "data-organization": journey.organization });
    for (const column of COLUMNS) {
      const value = journey[column.name];
      let content = cellText(column, value);
      if (column.name === "journey_id") {
        content = el("a", { href: "#", class: "mono", "data-testid": "open-session",
          onclick: (event) => {
            event.preventDefault();
            setState({ session: { organization: journey.organization, journey_id: journey.journey_id } });
          } }, value);
      }
      const numeric = ["integer", "number"].includes(column.kind);
      const classes = [numeric ? "num" : "", column.name === "status" ? `status-${value}` : ""].join(" ").trim();
      row.append(el("td", { class: classes || null, "data-column": column.name, title: value === null ? null : String(value) }, content));
    }
    body.append(row);
  }
  if (!page.rows.length) {
    body.append(el("tr", {}, el("td", { colspan: COLUMNS.length, class: "muted" }, "No journeys match.")));
  }
  const first = (page.page - 1) * page.page_size + 1;
  $("#summary").textContent = page.total
    ? `${page.total} journeys · rows ${first}–${first + page.rows.length - 1} · page ${page.page} of ${page.pages}`
    : "0 journeys";
  $("#prev").disabled = page.page <= 1;
  $("#next").disabled = page.page >= page.pages;
}

function filterLabel(filter) {
  const column = columnByName(filter.column);
  const label = column ? column.label : filter.column;
  const op = OP_LABELS[filter.op] || filter.op;
  if (filter.op === "between" && filter.values) return `${label} ${op} ${filter.values.join(" and ")}`;
  if (filter.values) return `${label} ${op} ${filter.values.join(", ")}`;
  if (filter.value !== undefined && filter.value !== null) return `${label} ${op} ${filter.value}`;
  return `${label} ${op}`;
}

function renderChips() {
  const chips = state.filters.map((filter, index) => el("span", { class: "chip", "data-testid": "filter-chip" },
    filterLabel(filter),
    el("button", { type: "button", title: "Remove filter", "data-testid": "filter-remove",
      onclick: () => setState({ filters: state.filters.filter((_, i) => i !== index), page: 1 }) }, "×")));
  if (state.filters.length > 1) {
    chips.push(el("button", { type: "button", onclick: () => setState({ filters: [], page: 1 }) }, "Clear all"));
  }
  $("#chips").replaceChildren(...chips);
}

// ---------------------------------------------------------------- filter form

function updateOps() {
  const column = columnByName($("#filter-form [name=column]").value);
  const opSelect = $("#filter-form [name=op]");
  const previous = opSelect.value;
  opSelect.replaceChildren(...column.ops.map((op) => el("option", { value: op }, OP_LABELS[op])));
  if (column.ops.includes(previous)) opSelect.value = previous;
  updateValueInput();
  loadFacets(column);
}

function updateValueInput() {
  const op = $("#filter-form [name=op]").value;
  const column = columnByName($("#filter-form [name=column]").value);
  const input = $("#filter-form [name=value]");
  const noValue = op === "has_value" || op === "has_no_value";
  input.disabled = noValue;
  const list = op === "any_of" || op === "not_any_of";
  const kindHint = { integer: "a whole number", number: "a number", timestamp: "YYYY-MM-DD HH:MM:SS (UTC)", text: "text" }[column.kind];
  let hint = kindHint;
  if (list) hint = `comma-separated, each ${kindHint}`;
  if (op === "between") hint = `low, high (both included), each ${kindHint}`;
  $("#value-hint").textContent = noValue ? "" : hint;
}

async function loadFacets(column) {
  const list = $("#facet-values");
  list.replaceChildren();
  if (column.kind !== "text" || column.name === "journey_id") return;
  try {
    const data = await api(`api/facets/${encodeURIComponent(column.name)}?limit=50`);
    list.replaceChildren(...data.values.filter((f) => f.value !== null).map((f) => el("option", { value: f.value }, `${f.sessions} sessions`)));
  } catch (error) { /* suggestions only */ }
}

function addFilter(event) {
  event.preventDefault();
  const form = $("#filter-form");
  const filter = { column: form.column.value, op: form.op.value };
  const raw = form.value.value.trim();
  const typed = (v) => (columnByName(filter.column).kind === "timestamp" ? v.replace(" ", "T") : v);
  if (["any_of", "not_any_of", "between"].includes(filter.op)) {
    filter.values = raw.split(",").map((v) => typed(v.trim())).filter((v) => v !== "");
  } else if (filter.op !== "has_value" && filter.op !== "has_no_value") {
    filter.value = typed(raw);
  }
  form.value.value = "";
  setState({ filters: [...state.filters, filter], page: 1 });
}

// ---------------------------------------------------------------- session view

// Inside the Airflow UI this page is a sandboxed iframe that may not navigate the top window; it is
// same-origin, so it asks the UI's router to show the DAG run instead (history entry + popstate).
function openInAirflow(event) {
  if (window.parent === window) return;
  try {
    const target = new URL(event.currentTarget.getAttribute("href"), location.href);
    if (target.origin !== location.origin) return;
    // the entry shaped as React Router's own (usr, key, idx), which it reads back on popstate
    const current = window.parent.history.state || {};
    const entry = { usr: null, key: Math.random().toString(36).slice(2, 10), idx: (current.idx || 0) + 1 };
    window.parent.history.pushState(entry, "", target.pathname + target.search + target.hash);
    window.parent.dispatchEvent(new PopStateEvent("popstate", { state: entry }));
    event.preventDefault();
  } catch (error) { /* not allowed: fall back to the link's own target */ }
}

function renderSession(detail) {
  const j = detail.journey;
  $("#session-id").textContent = j.journey_id;
  const summary = COLUMNS.filter((c) => c.name !== "journey_id").map((column) => el("div", {},
    el("dt", {}, column.label), el("dd", { "data-column": column.name }, cellText(column, j[column.name]) || "–")));
  $("#session-summary").replaceChildren(...summary);
  $("#session-runs").replaceChildren(...detail.runs.map((run) => el("li", { "data-testid": "session-run" },
    run.url ? el("a", { href: run.url, target: "_top", "data-testid": "run-link", onclick: openInAirflow },
      `${run.dag_id} · ${run.run_id}`)
      : el("span", { class: "muted" }, "no DAG run recorded"),
    el("span", { class: "muted" }, ` — interval ${fmtTime(run.interval_start)}, batch `),
    el("code", {}, run.batch_id))));
  $("#session-count").textContent = `(${detail.events.length})`;
  const rows = detail.events.map((e) => el("tr", { class: `ev-${e.event_type}`, "data-event-id": e.event_id },
    el("td", {}, fmtTime(e.event_time)),
    el("td", {}, e.event_type),
    el("td", {}, e.action_name || ""),
    el("td", {}, e.status || ""),
    el("td", {}, e.code || ""),
    el("td", {}, e.message || ""),
    el("td", {}, e.custom_metric_key ? `${e.custom_metric_key}${e.custom_metric_field ? "." + e.custom_metric_field : ""} = ${e.custom_metric_value}` : ""),
    el("td", { class: "num" }, e.duration_millis === null ? "" : String(e.duration_millis)),
    el("td", { class: "mono muted", title: e.batch_id }, e.batch_id.split("__")[0])));
  $("#session-events tbody").replaceChildren(...rows);
}

// ---------------------------------------------------------------- load + render

async function render() {
  state = readState();
  const seq = ++loadSeq;
  showError(null);
  if (state.range === null) {
    try {
      const range = await api("api/range");
      const end = range.last_event ? hourCeil(range.last_event) : null;
      const start = end ? new Date(end.getTime() - 24 * 3600 * 1000) : null;
      state.range = { start: start && isoNaive(start), end: end && isoNaive(end) };
      history.replaceState(null, "", stateHash(state));
    } catch (error) { showError(error); state.range = {}; }
  }
  mirrorToAirflow();
  const form = $("#range");
  form.start.value = toInput(state.range.start);
  form.end.value = toInput(state.range.end);

  if (state.session) {
    $("#list-view").hidden = true;
    $("#session-view").hidden = false;
    try {
      const { organization, journey_id: journeyId } = state.session;
      const detail = await api(`api/sessions/${encodeURIComponent(organization)}/${encodeURIComponent(journeyId)}`);
      if (seq === loadSeq) renderSession(detail);
    } catch (error) { if (seq === loadSeq) showError(error); }
    document.body.dataset.ready = String(seq);
    return;
  }
  $("#session-view").hidden = true;
  $("#list-view").hidden = false;
  renderHeader();
  renderChips();
  $("#page-size").value = String(state.page_size);
  const timeRange = { start: state.range.start || null, end: state.range.end || null };
  const params = new URLSearchParams();
  if (timeRange.start) params.set("start", timeRange.start);
  if (timeRange.end) params.set("end", timeRange.end);
  const query = { filters: state.filters, sort: state.sort, page: state.page, page_size: state.page_size, time_range: timeRange };
  const [page, charts] = await Promise.allSettled([api("api/journeys/search", query), api(`api/charts?${params}`)]);
  if (seq !== loadSeq) return;
  if (page.status === "fulfilled") renderRows(page.value);
  else { showError(page.reason); $("#journeys tbody").replaceChildren(); $("#summary").textContent = ""; }
  const busy = [page, charts].some((r) => r.status === "rejected" && r.reason.status === 503);
  if (busy) {
    // a pipeline run holds the warehouse for a moment: look again shortly, unless the user moved on
    $("#error").textContent += " Retrying in 5 s.";
    setTimeout(() => { if (seq === loadSeq) render(); }, 5000);
  }
  if (charts.status === "fulfilled") drawCharts(charts.value);
  else if (page.status === "fulfilled") showError(charts.reason);
  document.body.dataset.ready = String(seq);
}

async function init() {
  try {
    const meta = await api("api/columns");
    COLUMNS = meta.columns;
    OP_LABELS = meta.op_labels;
  } catch (error) {
    showError(error);
    document.body.dataset.ready = "error";
    return;
  }
  const columnSelect = $("#filter-form [name=column]");
  columnSelect.replaceChildren(...COLUMNS.map((c) => el("option", { value: c.name }, c.label)));
  columnSelect.addEventListener("change", updateOps);
  $("#filter-form [name=op]").addEventListener("change", updateValueInput);
  updateOps();
  $("#filter-form").addEventListener("submit", addFilter);
  $("#range").addEventListener("submit", (event) => {
    event.preventDefault();
    setState({ range: { start: fromInput(event.target.start.value), end: fromInput(event.target.end.value) }, page: 1 });
  });
  $("#range-all").addEventListener("click", () => setState({ range: {}, page: 1 }));
  $("#range-last-day").addEventListener("click", () => setState({ range: null, page: 1 }));
  $("#prev").addEventListener("click", () => setState({ page: Math.max(1, state.page - 1) }));
  $("#next").addEventListener("click", () => setState({ page: state.page + 1 }));
  $("#page-size").addEventListener("change", (event) => setState({ page_size: Number(event.target.value), page: 1 }));
  $("#back").addEventListener("click", () => setState({ session: null }));
  $("#share-link").addEventListener("click", copyLink);
  // Back / Forward between this page's entries, and a hash edited by hand (both fire popstate)
  window.addEventListener("popstate", render);
  render();
}

init();
