// The dashboard: polls the node's JSON API (docs/api.md) and fills the tables. No
// framework; every value goes in through textContent, never as HTML.
"use strict";

const POLL_MS = 2000;
let filter = new URLSearchParams("limit=100");
let cursor = null;       // next_cursor of the page shown
let pageCursor = null;   // the cursor that page was asked with
let selected = null;     // task id whose attempts are shown
let shownTasks = [];     // the tasks of the page shown

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text === null || text === undefined ? "-" : String(text);
  if (cls) td.className = cls;
  return td;
}

function time(iso) {
  return iso ? iso.replace("T", " ").replace("Z", "") : null;
}

// The API needs the cluster's bearer token (docs/security.md). The node logs a link that
// carries it in the fragment (/#token=...), which a browser never sends to a server; the
// page keeps it for this tab in sessionStorage and takes it out of the address bar.
// The fragment may also name a task to show at once (#token=...&task=ID), as a link to
// one task's attempts and pipeline.
const TOKEN_KEY = "magpie-token";
const fromLink = /(?:^#|&)token=([0-9a-fA-F]+)/.exec(location.hash);
const taskLink = /(?:^#|&)task=([^&]+)/.exec(location.hash);
if (taskLink) selected = decodeURIComponent(taskLink[1]);
if (fromLink) {
  sessionStorage.setItem(TOKEN_KEY, fromLink[1]);
  history.replaceState(null, "", location.pathname + location.search +
                       (taskLink ? "#task=" + taskLink[1] : ""));
}

async function getJson(path) {
  const headers = {};
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers["Authorization"] = "Bearer " + token;
  const r = await fetch(path, { cache: "no-store", headers });
  const body = await r.json();
  if (r.status === 401) {
    throw new Error("this page needs the cluster's token: open the link the node logs " +
                    "(http://HOST:PORT/#token=...), or add #token= and what 'magpie token' " +
                    "prints to the address (" + (body.error || "401") + ")");
  }
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

// The first maxBytes of a text response (output can be large: the rest is not fetched),
// or the API's error.
async function getText(path, maxBytes) {
  const headers = {};
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers["Authorization"] = "Bearer " + token;
  const r = await fetch(path, { cache: "no-store", headers });
  if (!r.ok) {
    let error = r.statusText;
    try { error = (await r.json()).error || error; } catch (e) { /* not JSON */ }
    return { error };
  }
  const reader = r.body.getReader();
  const chunks = [];
  let size = 0;
  let more = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.length;
    if (size >= maxBytes) { more = true; reader.cancel(); break; }
  }
  const all = new Uint8Array(Math.min(size, maxBytes));
  let at = 0;
  for (const c of chunks) {
    const part = c.subarray(0, Math.min(c.length, all.length - at));
    all.set(part, at);
    at += part.length;
    if (at >= all.length) break;
  }
  return { text: new TextDecoder().decode(all), more };
}

// The selected task's output: fetched again only when its latest attempt or state changed,
// or while it runs.
const OUTPUT_BYTES = 64 * 1024;
let outputShown = null;

async function refreshOutput(h) {
  const last = h.attempts[h.attempts.length - 1];
  const key = h.id + "/" + (last ? last.number + "/" + last.outcome : "none") + "/" + h.state;
  if (key === outputShown && h.state !== "running") return;
  outputShown = key;
  for (const stream of ["stdout", "stderr"]) {
    const pre = document.getElementById(stream);
    const note = document.getElementById(stream + "-note");
    if (!last) {
      pre.textContent = "";
      note.textContent = "(not started)";
      continue;
    }
    const got = await getText("/api/v1/tasks/" + encodeURIComponent(h.id) + "/logs?stream=" + stream +
                              "&attempt=" + last.number, OUTPUT_BYTES);
    pre.textContent = got.error ? "" : got.text;
    note.textContent = got.error ? "(" + got.error + ")"
      : "(attempt " + last.number + (got.more ? ", the first " + OUTPUT_BYTES / 1024 +
                                     " KiB: magpie logs prints it all" : "") + ")";
  }
}

function fill(tableId, items, addRow) {
  const body = document.querySelector("#" + tableId + " tbody");
  body.replaceChildren();
  for (const item of items) addRow(body.insertRow(), item);
}

async function refreshMembers() {
  const { members } = await getJson("/api/v1/members");
  fill("members", members, (row, m) => {
    cell(row, m.id);
    cell(row, m.address);
    cell(row, m.state, m.state);
    cell(row, m.slots);
    cell(row, m.running);
    cell(row, m.ready);
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = (m.slots > 0 ? Math.min(1, m.running / m.slots) * 60 : 0) + "px";
    row.insertCell().append(bar);
    cell(row, m.stolen);
    cell(row, m.given);
    cell(row, Object.entries(m.labels).map(([k, v]) => k + "=" + v).join(",") || null);
    cell(row, (m.age_ms / 1000).toFixed(1) + " s ago");
  });
}

async function refreshGroups() {
  const g = await getJson("/api/v1/groups");
  document.getElementById("node").textContent = "node " + g.node;
  fill("groups", g.groups, (row, x) => {
    cell(row, x.id + (x.home ? " (home)" : ""));
    cell(row, x.role, x.role);
    cell(row, x.leader ? x.leader + " @ " + x.leader_address : null);
    cell(row, x.term);
    cell(row, x.commit_index);
    cell(row, x.members.map(m => m.id + (m.voter ? "" : " (learner)")).join(", "));
    const t = x.tasks;
    cell(row, t.ready);
    cell(row, t.running);
    cell(row, t.succeeded);
    cell(row, t.failed);
    cell(row, t.pending + (t.assigned || 0) + t.blocked + t.cancelled);
  });
}

async function refreshTasks() {
  const q = new URLSearchParams(filter);
  if (pageCursor) q.set("cursor", pageCursor);
  const page = await getJson("/api/v1/tasks?" + q.toString());
  shownTasks = page.tasks;
  cursor = page.next_cursor;
  document.getElementById("more").disabled = !cursor;
  const leftOut = page.groups_left_out || [];
  const note = document.getElementById("left-out");
  note.hidden = leftOut.length === 0;
  note.textContent = "Not shown: the tasks of " + leftOut.join(", ") + ". This node has not heard " +
    "from those groups' leaders lately (it is cut off, or no longer a member); another node lists them.";
  fill("tasks", page.tasks, (row, t) => {
    row.className = "click";
    row.onclick = () => { selected = t.id; refreshDetail(); };
    cell(row, t.id);
    cell(row, t.name || null);
    cell(row, t.state + (t.progress && t.state === "running" ? " " + t.progress.percent + "%" : ""), t.state);
    cell(row, t.attempts.length);
    const last = t.attempts[t.attempts.length - 1];
    cell(row, last ? last.node : null);
    cell(row, time(t.submitted_at));
    cell(row, time(t.finished_at));
    cell(row, t.command.join(" "), "cmd");
  });
}

async function refreshDetail() {
  const section = document.getElementById("detail");
  if (!selected) { section.hidden = true; return; }
  const h = await getJson("/api/v1/tasks/" + encodeURIComponent(selected) + "/history");
  section.hidden = false;
  document.getElementById("detail-id").textContent = h.id + (h.name ? " (" + h.name + ")" : "");
  document.getElementById("detail-summary").textContent =
    "state " + h.state + (h.pending_reason ? " (" + h.pending_reason + ")" : "") +
    ", submitted " + time(h.submitted_at) +
    (h.finished_at ? ", finished " + time(h.finished_at) : "") +
    (h.progress ? "\nprogress " + h.progress.percent + "% " + h.progress.message +
                  " (attempt " + h.progress.attempt + ")" : "") +
    (h.parent ? "\nchild of " + h.parent : "") +
    (h.children && h.children.length ? "\nchildren " + h.children.length + " (" +
        h.children_open + " not ended" + (h.merging ? ", merging" : "") + ")" : "");
  fill("attempts", h.attempts, (row, a) => {
    cell(row, a.number);
    cell(row, a.node);
    cell(row, time(a.started_at));
    cell(row, time(a.ended_at));
    cell(row, a.exit_code);
    cell(row, a.signal);
    cell(row, a.outcome, a.outcome);
    cell(row, a.reason);
    cell(row, a.stolen_from);
  });
  await refreshOutput(h);
  await drawDag(h.id);
}

// The selected task's pipeline: the tasks it waits on (its `after`, followed up) and the
// tasks of the page shown that wait on it, as boxes coloured by state, in columns by depth.
const SVG = "http://www.w3.org/2000/svg";
const STATE_FILL = { succeeded: "#c8e6c9", running: "#ffe0b2", ready: "#fff3e0",
                     pending: "#f5f5f5", failed: "#ffcdd2", blocked: "#ffcdd2",
                     cancelled: "#e0e0e0", waiting: "#e1f5fe", assigned: "#fff8e1" };

function svgEl(parent, tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  parent.append(e);
  return e;
}

async function drawDag(id) {
  const byId = new Map(shownTasks.map(t => [t.id, t]));
  const want = [id];
  const inDag = new Set();
  while (want.length && inDag.size < 200) {       // ancestors, fetched if not on the page
    const x = want.pop();
    if (inDag.has(x)) continue;
    if (!byId.has(x)) byId.set(x, await getJson("/api/v1/tasks/" + encodeURIComponent(x)));
    inDag.add(x);
    want.push(...(byId.get(x).after || []));
  }
  for (let grew = true; grew;) {                   // descendants among the page's tasks
    grew = false;
    for (const t of byId.values()) {
      if (!inDag.has(t.id) && (t.after || []).some(a => inDag.has(a))) {
        inDag.add(t.id);
        grew = true;
      }
    }
  }
  const tasks = [...inDag].map(x => byId.get(x))
    .sort((x, y) => x.id.localeCompare(y.id, undefined, { numeric: true }));
  const depth = new Map();
  const depthOf = (t, seen = 0) => {
    if (!depth.has(t.id)) {
      const ups = (t.after || []).filter(a => inDag.has(a));
      depth.set(t.id, seen > 200 ? 0 :
                ups.length ? 1 + Math.max(...ups.map(a => depthOf(byId.get(a), seen + 1))) : 0);
    }
    return depth.get(t.id);
  };
  const columns = [];
  for (const t of tasks) (columns[depthOf(t)] ||= []).push(t);
  const W = 170, H = 36, DX = 60, DY = 16, pos = new Map();
  columns.forEach((col, c) => col.forEach((t, r) =>
    pos.set(t.id, { x: 10 + c * (W + DX), y: 10 + r * (H + DY) })));
  const svg = document.getElementById("dag");
  svg.replaceChildren();
  const rows = Math.max(...columns.map(col => col ? col.length : 0));
  svg.setAttribute("width", 20 + columns.length * (W + DX) - DX);
  svg.setAttribute("height", 20 + rows * (H + DY) - DY);
  const defs = svgEl(svg, "defs", {});
  const marker = svgEl(defs, "marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5,
                                         markerWidth: 7, markerHeight: 7, orient: "auto" });
  svgEl(marker, "path", { d: "M0,0 L10,5 L0,10 z", fill: "#78909c" });
  for (const t of tasks) {
    for (const a of (t.after || []).filter(a => inDag.has(a))) {
      const from = pos.get(a), to = pos.get(t.id);
      svgEl(svg, "line", { class: "dag-edge", "data-from": a, "data-to": t.id,
                           x1: from.x + W, y1: from.y + H / 2, x2: to.x, y2: to.y + H / 2,
                           stroke: "#78909c", "marker-end": "url(#arrow)" });
    }
  }
  for (const t of tasks) {
    const p = pos.get(t.id);
    const g = svgEl(svg, "g", { class: "dag-node " + t.state, "data-id": t.id,
                                "data-state": t.state });
    g.onclick = () => { selected = t.id; refreshDetail(); };
    svgEl(g, "rect", { x: p.x, y: p.y, width: W, height: H, rx: 5,
                       fill: STATE_FILL[t.state] || "#fff",
                       stroke: t.id === id ? "#263238" : "#90a4ae",
                       "stroke-width": t.id === id ? 2.5 : 1 });
    const label = svgEl(g, "text", { x: p.x + 8, y: p.y + 15 });
    label.textContent = (t.name || t.id).slice(0, 22);
    const sub = svgEl(g, "text", { x: p.x + 8, y: p.y + 29, class: "dag-sub" });
    sub.textContent = t.id + " " + t.state;
  }
}

async function refresh() {
  const status = document.getElementById("status");
  try {
    await Promise.all([refreshMembers(), refreshGroups(), refreshTasks().then(refreshDetail)]);
    status.textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    status.textContent = "error: " + e.message;
  }
}

document.getElementById("filter").onsubmit = (ev) => {
  ev.preventDefault();
  filter = new URLSearchParams();
  for (const [k, v] of new FormData(ev.target)) if (v) filter.set(k, v);
  pageCursor = null;
  refresh();
};
document.getElementById("more").onclick = () => { pageCursor = cursor; refresh(); };

refresh();
setInterval(refresh, POLL_MS);
