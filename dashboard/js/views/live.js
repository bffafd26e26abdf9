// Live events: the newest events as they arrive, filters, text search, events-per-minute
// chart over 1/3/5/10 minutes, one swim lane per session or agent, expandable payloads.

import { api, query } from "../api.js";
import { legend, swimLanes, barChart } from "../charts.js";
import { clear, color, fmtInt, fmtTime, h, labelled, select, short, statusChip } from "../dom.js";
import { LiveStream } from "../stream.js";
import { describe } from "./describe.js";

const MAX_SHOWN = 500;
const WINDOWS = [1, 3, 5, 10];
const MAX_LANES = 12;

export function mount(root, { params, setStatus }) {
  const st = {
    filters: { source_app: params.get("source_app") || "", session_id: params.get("session_id") || "",
               hook_event_type: params.get("hook_event_type") || "" },
    q: params.get("q") || "", minutes: 5, events: new Map(), olderCursor: undefined,
    perSec: new Map(), lanes: new Map(), options: null,
  };
  const filtersEl = h("div", { class: "filters", role: "search" });
  const banner = h("div", { class: "banner", role: "status", "aria-live": "polite" });
  const chartEl = h("div");
  const lanesEl = h("div");
  const list = h("ul", { class: "events", "aria-label": "Events, newest first" });
  const countEl = h("span", { class: "muted" });
  const older = h("button", { onclick: () => loadOlder() }, "Load older");
  root.append(
    h("h2", {}, "Live events"),
    filtersEl, banner,
    h("div", { class: "grid" },
      h("section", { class: "panel", "aria-labelledby": "rate-title" },
        h("h3", { id: "rate-title" }, "Events per minute"),
        h("div", { class: "seg", role: "group", "aria-label": "Chart window" },
          WINDOWS.map((m) => h("button", { "aria-pressed": String(m === st.minutes),
            "data-minutes": m, onclick: (ev) => setWindow(m, ev.target) }, `${m} min`))),
        chartEl),
      h("section", { class: "panel", "aria-labelledby": "lanes-title" },
        h("h3", { id: "lanes-title" }, "Sessions and agents"), lanesEl)),
    h("section", { class: "panel", "aria-labelledby": "events-title" },
      h("h3", { id: "events-title" }, "Events ", countEl),
      list, h("div", { class: "pager" }, older)));

  // -- rate and lanes --------------------------------------------------------------------
  function laneKey(ev) {
    return ev.agent_id ? `${ev.session_id}/${ev.agent_id}` : ev.session_id;
  }

  function count(ev, n = 1, type = ev.hook_event_type) {
    const sec = Math.floor(ev.timestamp / 1000);
    st.perSec.set(sec, (st.perSec.get(sec) || 0) + n);
    const key = laneKey(ev);
    if (!st.lanes.has(key)) st.lanes.set(key, { label: laneLabel(ev), points: [], last: 0 });
    const lane = st.lanes.get(key);
    lane.points.push({ t: ev.timestamp, type });
    if (lane.points.length > 400) lane.points.shift();
    lane.last = Math.max(lane.last, ev.timestamp);
  }

  function laneLabel(ev) {
    const app = ev.source_app ? `${ev.source_app}:` : "";
    return ev.agent_id ? `${app}${short(ev.session_id, 6)}/${short(ev.agent_id, 6)}`
                       : `${app}${short(ev.session_id, 10)}`;
  }

  async function loadRate() {
    const data = await api(`/api/ui/rate${query({ ...st.filters, minutes: st.minutes,
                                                  lanes: MAX_LANES })}`);
    st.perSec.clear();
    st.lanes.clear();
    for (const [b, n] of data.totals) {
      const sec = Math.floor((data.since_ms + b * data.bucket_ms) / 1000);
      st.perSec.set(sec, (st.perSec.get(sec) || 0) + n);
    }
    for (const lane of data.lanes) {
      for (const [b, n] of lane.buckets) {
        const ev = { session_id: lane.session_id, agent_id: lane.agent_id, source_app: lane.source_app,
                     timestamp: data.since_ms + b * data.bucket_ms + data.bucket_ms / 2 };
        const key = laneKey(ev);
        if (!st.lanes.has(key)) st.lanes.set(key, { label: laneLabel(ev), points: [], last: 0 });
        const l = st.lanes.get(key);
        l.points.push({ t: ev.timestamp, type: "earlier events", n });
        l.last = Math.max(l.last, ev.timestamp);
      }
    }
    st.rateLoadedAt = data.now_ms;
    draw();
  }

  function draw() {
    const now = Date.now();
    const span = st.minutes * 60000;
    const start = now - span;
    const bins = 60;
    const binMs = span / bins;
    const counts = new Array(bins).fill(0);
    for (const [sec, n] of st.perSec) {
      const i = Math.floor((sec * 1000 - start) / binMs);
      if (i >= 0 && i < bins) counts[i] += n;
      else if (sec * 1000 < now - 600000) st.perSec.delete(sec);
    }
    const perMin = 60000 / binMs;
    const total = counts.reduce((a, b) => a + b, 0);
    clear(chartEl,
      h("p", { class: "muted", "data-rate-total": total },
        `${fmtInt(total)} events in the last ${st.minutes} min, ` +
        `${(total / st.minutes).toFixed(1)} per minute`),
      barChart({ points: counts.map((n, i) => ({ x: `-${Math.round((bins - i) * binMs / 1000)}s`,
                                                 values: { events: n * perMin } })),
                 keys: ["events"], height: 140, width: Math.max(chartEl.clientWidth, 400), fmt: (v) => `${Math.round(v)}/min`,
                 label: `Events per minute over the last ${st.minutes} minutes` }));
    const lanes = [...st.lanes.values()].filter((l) => l.last >= start)
      .sort((a, b) => b.last - a.last).slice(0, MAX_LANES);
    const types = new Set();
    for (const l of lanes) for (const p of l.points) if (p.t >= start) types.add(p.type);
    clear(lanesEl, lanes.length
      ? [swimLanes({ lanes, start, end: now, width: Math.max(lanesEl.clientWidth, 480),
                     label: "Events per session and agent" }),
         legend([...types].slice(0, 12))]
      : h("p", { class: "muted" }, `No activity in the last ${st.minutes} minutes.`));
  }

  function setWindow(m, btn) {
    st.minutes = m;
    for (const b of btn.parentElement.children) b.setAttribute("aria-pressed", "false");
    btn.setAttribute("aria-pressed", "true");
    loadRate().catch(() => draw());
  }

  // -- the list --------------------------------------------------------------------------
  function matches(ev) {
    if (!st.q) return true;
    return JSON.stringify(ev).toLowerCase().includes(st.q.toLowerCase());
  }

  function item(ev, fresh) {
    const pre = h("pre", { class: "mono", hidden: true, id: `payload-${ev.id}` });
    const hitl = ev.humanInTheLoopStatus;
    const btn = h("button", { class: "row", "aria-expanded": "false", "aria-controls": pre.id,
      onclick: () => {
        const open = btn.getAttribute("aria-expanded") !== "true";
        btn.setAttribute("aria-expanded", String(open));
        if (open && !pre.textContent) {
          pre.textContent = JSON.stringify(ev.payload, null, 2);
        }
        pre.hidden = !open;
      } },
      h("span", { class: "mono" }, fmtTime(ev.timestamp)),
      h("span", {}, h("span", { class: "dot", "aria-hidden": "true" }), ev.hook_event_type),
      h("span", { class: "mono", title: `${ev.source_app} ${ev.session_id}` },
        `${ev.source_app} · ${short(ev.session_id, 8)}`),
      h("span", {}, ev.tool_name ? h("b", {}, `${ev.tool_name} `) : null, describe(ev.payload),
        hitl ? [" ", statusChip(hitl.status)] : null));
    btn.querySelector(".dot").style.background = color(ev.hook_event_type);
    return h("li", { class: `event${fresh ? " fresh" : ""}`, "data-id": ev.id,
                     "data-type": ev.hook_event_type }, btn, pre);
  }

  function render(fresh = new Set()) {
    const shown = [...st.events.values()].filter(matches).sort((a, b) => b.id - a.id)
      .slice(0, MAX_SHOWN);
    clear(list, shown.length ? shown.map((ev) => item(ev, fresh.has(ev.id)))
      : h("li", { class: "muted" }, "No events yet."));
    countEl.textContent = `(${shown.length} shown)`;
  }

  // Options grow as new apps, sessions and event types show up, without a reload.
  const selects = {};
  function learn(ev) {
    for (const key of ["source_app", "session_id", "hook_event_type"]) {
      const el = selects[key];
      const value = ev[key];
      if (!el || !value || [...el.options].some((o) => o.value === value)) continue;
      el.append(h("option", { value }, value));
    }
  }

  function add(events, live) {
    const fresh = new Set();
    for (const ev of events) {
      learn(ev);
      const known = st.events.has(ev.id);
      st.events.set(ev.id, ev);
      if (!known && live) {
        fresh.add(ev.id);
        count(ev);
      }
    }
    if (st.events.size > MAX_SHOWN * 4) {
      const keep = [...st.events.keys()].sort((a, b) => b - a).slice(0, MAX_SHOWN * 2);
      const kept = new Map(keep.map((id) => [id, st.events.get(id)]));
      st.events = kept;
    }
    render(fresh);
  }

  async function loadOlder(reset = false) {
    const ids = [...st.events.keys()];
    const before = reset ? undefined : st.olderCursor ?? (ids.length ? Math.min(...ids) : undefined);
    const data = await api(`/api/ui/events${query({ ...st.filters, q: st.q, before_id: before,
                                                    limit: 100 })}`);
    st.olderCursor = data.next_before_id ?? undefined;
    older.disabled = data.next_before_id === null;
    older.textContent = st.q && data.events.length < 100 && data.next_before_id
      ? `Search older (before #${data.next_before_id})` : "Load older";
    add(data.events, false);
  }

  // -- stream ----------------------------------------------------------------------------
  let stream = null;
  const STATES = { live: ["Live", "live"], "catching-up": ["Catching up", "catching"],
                   down: ["Disconnected", "down"], connecting: ["Connecting", "catching"] };

  function startStream() {
    if (stream) stream.stop();
    st.events.clear();
    stream = new LiveStream({
      filters: st.filters,
      // The first page is history (the rate chart has it from the server already).
      onEvents: (events, initial) => add(events, !initial),
      onState: (state, detail) => {
        const [text, cls] = STATES[state];
        setStatus(`${text}${detail ? ` · ${detail}` : ""}`, cls);
        banner.textContent = state === "live" ? "Live: new events appear at the top."
          : `${text}${detail ? `: ${detail}` : ""}`;
        banner.className = `banner${state === "live" ? "" : " warn"}`;
        banner.dataset.state = state;
      },
    });
    stream.start();
    if (st.q) loadOlder(true).catch(() => {});
    loadRate().catch(() => draw());
  }

  function setFilter(key, value) {
    st.filters[key] = value;
    st.olderCursor = undefined;
    startStream();
  }

  async function loadFilters() {
    let opts = { source_apps: [], session_ids: [], hook_event_types: [] };
    try {
      opts = await api("/api/ui/filter-options");
    } catch { /* keep the empty lists; the stream still works */ }
    const search = h("input", { type: "search", value: st.q, placeholder: "command, file path, prompt…",
                                "aria-describedby": "search-hint" });
    let timer = null;
    search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        st.q = search.value.trim();
        st.olderCursor = undefined;
        render();
        if (st.q) loadOlder(true).catch(() => {});
      }, 250);
    });
    const pick = (key, values) => {
      if (st.filters[key] && !values.includes(st.filters[key])) values = [st.filters[key], ...values];
      selects[key] = select(key, values, st.filters[key], (v) => setFilter(key, v));
      return selects[key];
    };
    clear(filtersEl,
      labelled("App", pick("source_app", opts.source_apps)),
      labelled("Session", pick("session_id", opts.session_ids)),
      labelled("Event type", pick("hook_event_type", opts.hook_event_types)),
      labelled("Search payloads", search),
      h("span", { id: "search-hint", class: "muted" }, "Searches stored events too."));
  }

  loadFilters();
  startStream();
  const ticker = setInterval(draw, 1000);
  return () => {
    clearInterval(ticker);
    if (stream) stream.stop();
  };
}
