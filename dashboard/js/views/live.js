// Live events: the newest events as they arrive, filters, text search, events-per-minute
// chart over 1/3/5/10 minutes, one swim lane per session or agent, expandable payloads.

import { Activity } from "../activity.js";
import { api, query } from "../api.js";
import { clear, color, fmtTime, h, labelled, select, short, statusChip } from "../dom.js";
import { LiveStream } from "../stream.js";
import { describe } from "./describe.js";

const MAX_SHOWN = 500;
const WINDOWS = [1, 3, 5, 10];

export function mount(root, { params, setStatus }) {
  const st = {
    filters: { source_app: params.get("source_app") || "", session_id: params.get("session_id") || "",
               hook_event_type: params.get("hook_event_type") || "" },
    q: params.get("q") || "", events: new Map(), olderCursor: undefined,
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
          WINDOWS.map((m) => h("button", { "aria-pressed": String(m === 5),
            "data-minutes": m, onclick: (ev) => setWindow(m, ev.target) }, `${m} min`))),
        chartEl),
      h("section", { class: "panel", "aria-labelledby": "lanes-title" },
        h("h3", { id: "lanes-title" }, "Sessions and agents"), lanesEl)),
    h("section", { class: "panel", "aria-labelledby": "events-title" },
      h("h3", { id: "events-title" }, "Events ", countEl),
      list, h("div", { class: "pager" }, older)));

  const activity = new Activity(chartEl, lanesEl);
  const loadRate = () => activity.load(st.filters).catch(() => activity.draw());

  function setWindow(m, btn) {
    activity.minutes = m;
    for (const b of btn.parentElement.children) b.setAttribute("aria-pressed", "false");
    btn.setAttribute("aria-pressed", "true");
    loadRate();
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
        activity.count(ev);
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
      // `#/live?limit=N` sets how many recent events the first page shows.
      initialLimit: Math.min(Number(params.get("limit")) || 200, 1000),
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
    loadRate();
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
  const ticker = setInterval(() => activity.draw(), 1000);
  return () => {
    clearInterval(ticker);
    if (stream) stream.stop();
  };
}
