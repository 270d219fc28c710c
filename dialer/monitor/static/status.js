// The live status page: polls /v1/monitor/status with the API token (kept in this tab's
// sessionStorage, never in a URL) and draws each account's window against its limit.
"use strict";
const KEY = "dialer.apiToken";
const POLL_MS = 2000;
const HISTORY_MS = 10 * 60 * 1000;
const history = {};  // account -> [{t, dial, lookup}]
let timer = null;

const $ = (id) => document.getElementById(id);
const esc = (v) => String(v ?? "").replace(/[&<>"']/g,
  (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
const time = (ms) => ms ? new Date(Number(ms)).toLocaleTimeString() : "";

function rows(table, head, body) {
  const th = head.map((h) => `<th>${esc(h)}</th>`).join("");
  table.innerHTML = `<tr>${th}</tr>` + (body.length ? body.join("")
    : `<tr><td colspan="${head.length}" class="muted">none</td></tr>`);
}
const cell = (v, figure) => `<td class="n"${figure ? ` data-figure="${esc(figure)}"` : ""}>${esc(v)}</td>`;

function chart(name, points, limit) {
  const w = 1200, h = 150, pad = 24;
  // the x axis spans what this page has seen: one minute at least, ten at most
  const now = Date.now();
  const span = Math.min(HISTORY_MS, Math.max(60 * 1000, now - (points.length ? points[0].t : now)));
  const t0 = now - span;
  const top = Math.max(limit, ...points.map((p) => p.dial + p.lookup), 1) * 1.1;
  const x = (t) => pad + (w - pad) * (t - t0) / span;
  const y = (v) => h - v / top * (h - 10);
  const path = (f) => points.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(f(p)).toFixed(1)}`).join(" ");
  return `<svg viewBox="0 0 ${w} ${h + 14}" data-chart="${esc(name)}" data-points="${points.length}">
    <line class="limit" x1="${pad}" x2="${w}" y1="${y(limit)}" y2="${y(limit)}"></line>
    <text x="${pad + 2}" y="${y(limit) - 3}">limit ${limit}</text>
    <path class="dial" d="${path((p) => p.dial + p.lookup)}"></path>
    <path class="lookup" d="${path((p) => p.lookup)}"></path>
    <text x="0" y="${h}">0</text><text x="${pad}" y="${h + 12}">−${Math.round(span / 60000)} min</text>
    <text x="${w - 30}" y="${h + 12}">now</text></svg>`;
}

function render(s) {
  const now = Date.now();
  $("accounts").innerHTML = s.accounts.map((a) => {
    const list = (history[a.name] = (history[a.name] || []).filter((p) => p.t > now - HISTORY_MS));
    list.push({t: now, dial: a.dials_in_window, lookup: a.lookups_in_window});
    const used = a.dials_in_window + a.lookups_in_window;
    return `<div class="card" id="acct-${esc(a.name)}"><h2>Account ${esc(a.name)}
      <span class="${used >= a.limit ? "bad" : "ok"}"><span data-figure="window.${esc(a.name)}">${used}</span>
      / ${a.limit} requests in the last ${a.window_s}s</span>
      ${a.cooling_down ? '<span class="bad">cooling down after a 429</span>' : ""}</h2>
      <p class="muted">POSTs <b data-figure="dials.${esc(a.name)}">${a.dials_total}</b> ·
      GETs <b data-figure="lookups.${esc(a.name)}">${a.lookups_total}</b> ·
      429s <b data-figure="429.${esc(a.name)}">${a.http_429_total}</b> ·
      <span style="color:#2f6fde">■</span> all requests
      <span style="color:#e37400">■</span> GETs</p>
      ${chart(a.name, list, a.limit)}</div>`;
  }).join("");
  const c = s.calls;
  rows($("calls"), ["", "calls"], [
    `<tr><td>created</td>${cell(c.created, "calls.created")}</tr>`,
    `<tr><td>in flight</td>${cell(c.in_flight, "calls.in_flight")}</tr>`,
    ...Object.entries(c.finished).sort().map(([k, v]) =>
      `<tr><td>ended ${esc(k)}</td>${cell(v, "calls.finished." + k)}</tr>`),
    `<tr><td>retries scheduled</td>${cell(s.retries, "retries")}</tr>`]);
  rows($("sets"), ["set", "attempts"], [
    ...Object.entries(s.sets).filter(([k]) => k !== "calls").map(([k, v]) =>
      `<tr><td>${esc(k)}</td>${cell(v, "sets." + k)}</tr>`),
    `<tr><td>overdue in due set</td>${cell(s.due_overdue, "due_overdue")}</tr>`,
    `<tr><td>oldest overdue</td>${cell(s.due_oldest_overdue_s + " s", "due_oldest")}</tr>`,
    ...Object.entries(s.queues).map(([k, v]) =>
      `<tr><td>Celery queue ${esc(k)}</td>${cell(v, "queue." + k)}</tr>`)]);
  rows($("attempts"), ["outcome", "attempts"], Object.entries(s.attempts).sort().map(([k, v]) =>
    `<tr><td>${esc(k)}</td>${cell(v, "attempts." + k)}</tr>`));
  rows($("campaigns"), ["campaign", "state", "progress", "done / contacts", "live", "agents busy",
    "waiting because"], s.campaigns.map((k) =>
    `<tr data-campaign="${esc(k.id)}"><td>${esc(k.name)} <span class="muted">${esc(k.id)}</span></td>
     <td>${esc(k.state)}</td>
     <td><span class="bar"><i style="width:${Math.round(100 * k.progress)}%"></i></span>
       ${Math.round(100 * k.progress)}%</td>
     ${cell(`${k.done} / ${k.contacts}`)}${cell(k.live)}${cell(`${k.agents_busy} / ${k.agents_busy + k.agents_idle}`)}
     <td data-figure="waiting.${esc(k.id)}">${esc(k.waiting_because || "dialling")}</td></tr>`));
  rows($("unknown"), ["attempt", "next look-up", ""], [
    ...s.unknown.map((u) => `<tr><td>${esc(u.attempt_id)}</td><td>${time(u.next_look_ms)}</td><td>looking</td></tr>`),
    ...s.unresolved.map((u) => `<tr><td>${esc(u.attempt_id)}</td><td>${time(u.given_up_ms)}</td>
      <td class="bad">given up: check by hand</td></tr>`)]);
  rows($("failures"), ["when", "attempt", "what", "detail"], s.recent_failures.map((e) =>
    `<tr><td>${time(e.at_ms)}</td><td>${esc(e.attempt_id)}</td><td class="bad">${esc(e.type)}</td>
     <td>${esc(e.detail)}</td></tr>`));
  $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  $("updated").dataset.polls = String(Number($("updated").dataset.polls || 0) + 1);
}

async function poll() {
  const token = sessionStorage.getItem(KEY);
  if (!token) return showLogin("");
  try {
    const resp = await fetch("/v1/monitor/status", {headers: {Authorization: "Bearer " + token}});
    if (resp.status === 401 || resp.status === 403) {
      sessionStorage.removeItem(KEY);
      return showLogin("The token was refused.");
    }
    if (!resp.ok) throw new Error("HTTP " + resp.status);
    $("login").hidden = true; $("main").hidden = false; $("logout").hidden = false;
    render(await resp.json());
  } catch (err) {
    $("updated").textContent = "update failed: " + err.message;
  }
  timer = setTimeout(poll, POLL_MS);
}

function showLogin(message) {
  clearTimeout(timer);
  $("main").hidden = true; $("logout").hidden = true; $("login").hidden = false;
  $("login-error").textContent = message;
}

$("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(KEY, $("token").value);
  $("token").value = "";
  poll();
});
$("logout").addEventListener("click", () => { sessionStorage.removeItem(KEY); showLogin(""); });
poll();
