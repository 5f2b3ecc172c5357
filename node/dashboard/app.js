// The dashboard: polls the node's JSON API (docs/api.md) and fills the tables. No
// framework; every value goes in through textContent, never as HTML.
"use strict";

const POLL_MS = 2000;
let filter = new URLSearchParams("limit=100");
let cursor = null;       // next_cursor of the page shown
let pageCursor = null;   // the cursor that page was asked with
let selected = null;     // task id whose attempts are shown

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
const TOKEN_KEY = "magpie-token";
const fromLink = /(?:^#|&)token=([0-9a-fA-F]+)/.exec(location.hash);
if (fromLink) {
  sessionStorage.setItem(TOKEN_KEY, fromLink[1]);
  history.replaceState(null, "", location.pathname + location.search);
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
    cell(row, t.pending + t.blocked + t.cancelled);
  });
}

async function refreshTasks() {
  const q = new URLSearchParams(filter);
  if (pageCursor) q.set("cursor", pageCursor);
  const page = await getJson("/api/v1/tasks?" + q.toString());
  cursor = page.next_cursor;
  document.getElementById("more").disabled = !cursor;
  fill("tasks", page.tasks, (row, t) => {
    row.className = "click";
    row.onclick = () => { selected = t.id; refreshDetail(); };
    cell(row, t.id);
    cell(row, t.name || null);
    cell(row, t.state, t.state);
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
    "state " + h.state + ", submitted " + time(h.submitted_at) +
    (h.finished_at ? ", finished " + time(h.finished_at) : "");
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
}

async function refresh() {
  const status = document.getElementById("status");
  try {
    await Promise.all([refreshMembers(), refreshGroups(), refreshTasks(), refreshDetail()]);
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
