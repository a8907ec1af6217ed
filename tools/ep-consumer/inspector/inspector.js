// SPDX-FileCopyrightText: 2026 The ep-glib authors
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// ep-consumer's inspector page: polls the JSON API once a second (no
// reload) and fills the tables. Every value from an event goes into the
// page as text (textContent), never as markup.
"use strict";

const POLL_MS = 1000;
const PAGE_LIMIT = 500;       // events asked for per poll
const KEEP_ROWS = 1000;       // rows kept in each table

const state = {
  epoch: null,
  lastEvent: 0,
  lastRefused: 0,
  events: [],                 // newest first
  refused: [],
  faults: null,
  timer: null,
};

const $ = (id) => document.getElementById(id);

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props || {});
  for (const child of children)
    node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

async function api(path, options) {
  const reply = await fetch(path, Object.assign({ cache: "no-store" }, options));
  const body = await reply.json().catch(() => ({}));
  if (!reply.ok)
    throw new Error(`${reply.status} ${body.error || reply.statusText}`);
  return body;
}

function formatSize(bytes) {
  if (bytes < 1024)
    return `${bytes} B`;
  if (bytes < 1024 * 1024)
    return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

function timeCell(iso) {
  if (!iso)
    return el("td", {}, "—");
  const date = new Date(iso);
  const ms = el("span", { className: "ms" }, "." + String(date.getMilliseconds()).padStart(3, "0"));
  return el("td", {}, el("time", { dateTime: iso, title: iso },
                         date.toLocaleTimeString([], { hour12: false }), ms));
}

function pretty(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch (e) {
    return text;
  }
}

// ---------------------------------------------------------------------------
// Events and refused events

function detailRow(record, columns) {
  const parts = [
    el("h3", {}, "Payload"),
    el("pre", { className: "payload" }, pretty(record.payload)),
    el("h3", {}, "Headers"),
    el("pre", {}, JSON.stringify(record.headers, null, 2)),
    el("p", {}, `Endpoint ${record.endpoint}, received ${record.received}, event id ${record.id}`),
  ];
  const cell = el("td", { colSpan: columns }, ...parts);
  return el("tr", { className: "detail", id: `detail-${record.seq}` }, cell);
}

function toggleCell(record, columns) {
  const button = el("button", {
    type: "button",
    className: "toggle",
    title: "Show the payload",
  }, record.name ?? "(no name)");
  button.setAttribute("aria-expanded", "false");
  button.setAttribute("aria-controls", `detail-${record.seq}`);
  button.addEventListener("click", () => {
    const row = button.closest("tr");
    const open = button.getAttribute("aria-expanded") === "true";
    if (open) {
      row.nextElementSibling?.remove();
    } else {
      row.after(detailRow(record, columns));
    }
    button.setAttribute("aria-expanded", String(!open));
  });
  return el("th", { scope: "row" }, button);
}

function eventRow(record) {
  const sent = record.sent_ms != null ? new Date(record.sent_ms).toISOString() : null;
  const row = el("tr", { className: "new" },
    toggleCell(record, 6),
    el("td", {}, record.category ?? "—"),
    el("td", {}, record.endpoint),
    el("td", { className: "id" }, record.id),
    timeCell(sent),
    el("td", { className: "num" }, formatSize(record.size)));
  row.dataset.seq = record.seq;
  row.dataset.name = record.name ?? "";
  row.dataset.category = record.category ?? "";
  return row;
}

function refusedRow(record) {
  const row = el("tr", { className: "new" },
    toggleCell(record, 6),
    el("td", { className: "id" }, record.id),
    el("td", {}, record.code ?? ""),
    el("td", {}, record.reason ?? ""),
    timeCell(record.received),
    el("td", { className: "num" }, formatSize(record.size)));
  row.dataset.seq = record.seq;
  return row;
}

// New records (newest first) go on top; the oldest rows beyond KEEP_ROWS go
function prepend(tbody, list, fresh, makeRow) {
  if (fresh.length === 0)
    return;
  const fragment = document.createDocumentFragment();
  for (const record of fresh)
    fragment.append(makeRow(record));
  tbody.prepend(fragment);
  list.unshift(...fresh);
  while (list.length > KEEP_ROWS) {
    const gone = list.pop();
    const row = tbody.querySelector(`tr[data-seq="${gone.seq}"]`);
    if (row?.nextElementSibling?.classList.contains("detail"))
      row.nextElementSibling.remove();
    row?.remove();
  }
}

function applyFilters() {
  const name = $("filter-name").value.trim();
  const category = $("filter-category").value;
  let shown = 0;
  for (const row of $("events").tBodies[0].rows) {
    if (row.classList.contains("detail"))
      continue;
    const visible = (!name || row.dataset.name === name) &&
                    (!category || row.dataset.category === category);
    row.hidden = !visible;
    if (row.nextElementSibling?.classList.contains("detail"))
      row.nextElementSibling.hidden = !visible;
    shown += visible;
  }
  const total = state.events.length;
  $("events-caption").textContent = name || category
    ? `Received events, newest first: ${shown} of ${total} match the filters`
    : `Received events, newest first (${total})`;
  $("events-empty").hidden = total > 0;
}

function clearAll() {
  state.events = [];
  state.refused = [];
  state.lastEvent = 0;
  state.lastRefused = 0;
  for (const id of ["events", "refused"])
    $(id).tBodies[0].replaceChildren();
}

// ---------------------------------------------------------------------------
// Summary: counts, outcomes, totals, faults

function fillCounts(id, counts) {
  const rows = Object.entries(counts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  $(id).tBodies[0].replaceChildren(...rows.map(([key, n]) =>
    el("tr", {}, el("th", { scope: "row" }, key), el("td", { className: "num" }, n))));
}

function fillNames(counts) {
  const list = $("names");
  list.replaceChildren(...Object.keys(counts).sort().map((name) => el("option", { value: name })));
}

function fillRequests(summary) {
  const statuses = Object.entries(summary.statuses).sort();
  $("statuses").replaceChildren(...statuses.map(([status, n]) =>
    el("li", { className: status === "200" ? "" : "bad" },
       `${status === "0" ? "no reply" : status}: ${n}`)));
  $("requests").tBodies[0].replaceChildren(...summary.requests.map((r) =>
    el("tr", {},
      timeCell(r.time),
      el("td", {}, r.endpoint),
      el("td", { className: r.status === 200 ? "num" : "num bad" },
         r.status === 0 ? "no reply" : r.status),
      el("td", {}, r.code ?? ""),
      el("td", { className: "num" }, r.accepted),
      el("td", { className: "num" }, r.refused),
      el("td", { className: "num" }, r.failed))));
}

const TOTALS = [
  ["requests", "Requests"],
  ["accepted", "Accepted"],
  ["rejected", "Refused"],
  ["failed_requests", "Failed requests"],
  ["faults_injected", "Faults injected"],
  ["unknown_paths", "Unknown paths"],
  ["connections", "Connections"],
  ["events_per_second", "Events/s"],
];

function fillTotals(totals) {
  $("totals").replaceChildren(...TOTALS.map(([key, label]) => {
    let value = totals[key];
    if (key === "events_per_second")
      value = value.toFixed(1);
    return el("div", {}, el("dt", {}, label), el("dd", {}, value));
  }));
}

function showFaults(faults) {
  state.faults = faults;
  $("fault-fail").setAttribute("aria-pressed", String(faults.fail));
  $("fault-hang").setAttribute("aria-pressed", String(faults.hang));
  if (document.activeElement !== $("fail-status"))
    $("fail-status").value = String(faults.fail_status);
  if (document.activeElement !== $("latency"))
    $("latency").value = String(faults.latency_ms);
  const rates = ["fail_rate", "sender_fault_rate", "receiver_fault_rate", "hang_rate", "garbage_rate"]
    .filter((key) => faults[key] > 0)
    .map((key) => `${key.replaceAll("_", "-")} ${faults[key]}`);
  $("rates").textContent = (faults.fail || faults.hang || faults.latency_ms > 0 || rates.length)
    ? `Now: ${faults.fail ? `failing every request with ${faults.fail_status}` : "answering"}` +
      `${faults.hang ? ", hanging every request" : ""}` +
      `${faults.latency_ms > 0 ? `, replies ${faults.latency_ms} ms late` : ""}` +
      `${rates.length ? `; from the command line: --${rates.join(", --")}` : ""}.`
    : "No fault injected: every valid event is accepted.";
}

async function setFaults(change) {
  try {
    showFaults(await api("/api/faults", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(change),
    }));
  } catch (error) {
    setStatus(`Could not set the faults: ${error.message}`, true);
  }
}

// ---------------------------------------------------------------------------
// Polling

function setStatus(text, error) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", Boolean(error));
}

async function poll() {
  try {
    const summary = await api("/api/summary");
    if (summary.epoch !== state.epoch) {
      clearAll();
      state.epoch = summary.epoch;
    }
    const [events, refused] = await Promise.all([
      api(`/api/events?after=${state.lastEvent}&limit=${PAGE_LIMIT}`),
      api(`/api/refused?after=${state.lastRefused}&limit=${PAGE_LIMIT}`),
    ]);
    if (events.epoch === state.epoch && !$("pause").checked) {
      for (const row of document.querySelectorAll("tr.new"))
        row.classList.remove("new");
      prepend($("events").tBodies[0], state.events, events.events, eventRow);
      prepend($("refused").tBodies[0], state.refused, refused.refused, refusedRow);
      state.lastEvent = Math.max(state.lastEvent, events.last_seq);
      state.lastRefused = Math.max(state.lastRefused, refused.last_seq);
      applyFilters();
    }
    $("badge-events").textContent = events.kept;
    $("badge-refused").textContent = refused.kept;
    $("refused-empty").hidden = state.refused.length > 0;
    fillCounts("name-counts", summary.names);
    fillCounts("category-counts", summary.categories);
    fillNames(summary.names);
    fillRequests(summary);
    fillTotals(summary.totals);
    showFaults(summary.faults);
    const kept = summary.capacity === 0
      ? "ep-consumer keeps no events (--inspector-events 0)"
      : `keeping the last ${summary.capacity} events`;
    setStatus(`Live, ${kept}; updated ${new Date().toLocaleTimeString([], { hour12: false })}` +
              `${$("pause").checked ? " (table paused)" : ""}`);
  } catch (error) {
    setStatus(`Cannot reach ep-consumer (${error.message}); retrying`, true);
  }
  state.timer = setTimeout(poll, POLL_MS);
}

function pollNow() {
  clearTimeout(state.timer);
  poll();
}

// ---------------------------------------------------------------------------
// Tabs (WAI-ARIA: arrows move between them)

function selectTab(tab) {
  for (const other of document.querySelectorAll("[role=tab]")) {
    const selected = other === tab;
    other.setAttribute("aria-selected", String(selected));
    other.tabIndex = selected ? 0 : -1;
    $(other.getAttribute("aria-controls")).hidden = !selected;
  }
}

function setUpTabs() {
  const tabs = [...document.querySelectorAll("[role=tab]")];
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => selectTab(tab));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (step === undefined)
        return;
      const next = tabs[(i + step + tabs.length) % tabs.length];
      selectTab(next);
      next.focus();
      event.preventDefault();
    });
  });
}

function setUp() {
  for (const node of document.querySelectorAll("code.origin"))
    node.textContent = location.origin;
  setUpTabs();
  $("fault-fail").addEventListener("click", () =>
    setFaults({ fail: !state.faults?.fail, fail_status: Number($("fail-status").value) }));
  $("fail-status").addEventListener("change", () => {
    if (state.faults?.fail)
      setFaults({ fail_status: Number($("fail-status").value) });
  });
  $("fault-hang").addEventListener("click", () => setFaults({ hang: !state.faults?.hang }));
  $("latency-apply").addEventListener("click", () =>
    setFaults({ latency_ms: Math.max(0, Math.round(Number($("latency").value) || 0)) }));
  $("reset").addEventListener("click", async () => {
    try {
      await api("/api/reset", { method: "POST" });
      pollNow();
    } catch (error) {
      setStatus(`Could not reset: ${error.message}`, true);
    }
  });
  $("filter-name").addEventListener("input", applyFilters);
  $("filter-category").addEventListener("change", applyFilters);
  $("pause").addEventListener("change", pollNow);
  document.querySelector("form.filters").addEventListener("submit", (e) => e.preventDefault());
  poll();
}

setUp();
