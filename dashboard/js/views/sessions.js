// Sessions: today's totals, Ralph completion, burn rate, daily usage, and the paged table.

import { api, query, tzOffsetMin } from "../api.js";
import { barChart, legend } from "../charts.js";
import { clear, fmtDay, fmtDateTime, fmtInt, fmtMs, fmtTokens, fmtUsd, h, labelled, select,
         short, statusChip } from "../dom.js";

const SOURCES = ["", "interactive", "ralph", "api"];
const REFRESH_MS = 10000;

function card(key, value, title) {
  return h("div", { class: "card", title }, h("div", { class: "k" }, key),
           h("div", { class: "v", "data-metric": key }, value));
}

function pct(rate) {
  return rate === null || rate === undefined ? "–" : `${Math.round(rate * 100)}%`;
}

function renderOverview(el, o) {
  const t = o.today;
  const tokens = t.input_tokens + t.output_tokens + t.cache_read_tokens + t.cache_creation_tokens;
  const running = Object.values(o.running).reduce((a, b) => a + b, 0);
  const r = o.ralph_today;
  clear(el,
    h("div", { class: "cards" },
      card("Sessions today", fmtInt(t.sessions)),
      card("Running now", fmtInt(running)),
      card("Tool calls today", fmtInt(t.tool_calls)),
      card("Tokens today", fmtTokens(tokens),
           `input ${fmtInt(t.input_tokens)}, output ${fmtInt(t.output_tokens)}, ` +
           `cache read ${fmtInt(t.cache_read_tokens)}, cache write ${fmtInt(t.cache_creation_tokens)}`),
      card("Cost today", fmtUsd(t.cost_usd)),
      card("Burn rate now", `${fmtUsd(o.burn.usd_per_hour)}/h`, "spend over the last hour"),
      card("Ralph tasks done", `${pct(r.rate)} (${r.completed}/${r.completed + r.failed})`,
           `last 24 h: ${pct(o.ralph_24h.rate)}`)),
    h("div", { class: "grid" },
      h("section", { class: "panel", "aria-labelledby": "daily-cost" },
        h("h3", { id: "daily-cost" }, "Cost per day"),
        barChart({ points: o.daily.map((d) => ({ x: fmtDay(d.day_ms), values: { cost: d.cost_usd } })),
                   keys: ["cost"], fmt: fmtUsd, label: "Cost per day" })),
      h("section", { class: "panel", "aria-labelledby": "daily-tokens" },
        h("h3", { id: "daily-tokens" }, "Tokens and sessions per day"),
        barChart({ points: o.daily.map((d) => ({ x: fmtDay(d.day_ms), values: { tokens: d.tokens } })),
                   keys: ["tokens"], fmt: fmtTokens, label: "Tokens per day" }),
        legend(["tokens"]))));
}

function row(s) {
  const tokens = s.input_tokens + s.output_tokens + s.cache_read_tokens + s.cache_creation_tokens;
  const duration = s.duration_ms ?? (s.last_event_at - s.started_at);
  return h("tr", { "data-session": s.id },
    h("td", {}, h("a", { href: `#/session/${encodeURIComponent(s.id)}`, class: "mono",
                         title: s.id }, short(s.id, 12)),
      s.task_title ? h("div", { class: "muted" }, s.task_title) : null),
    h("td", {}, s.source),
    h("td", { title: s.project || "" }, (s.project || "").split("/").slice(-2).join("/")),
    h("td", { "data-col": "user", title: s.user_email || s.user_account_uuid || "" },
      s.user_email || (s.user_account_uuid ? short(s.user_account_uuid, 8) : "")),
    h("td", {}, s.label || ""),
    h("td", {}, statusChip(s.status)),
    h("td", { class: "num" }, fmtDateTime(s.started_at)),
    h("td", { class: "num" }, fmtMs(duration)),
    h("td", { class: "num" }, fmtInt(s.tool_calls_count),
      s.tool_failures_count ? h("span", { class: "muted" }, ` (${s.tool_failures_count} failed)`) : null),
    h("td", { class: "num", "data-col": "tokens",
              title: `in ${s.input_tokens} / out ${s.output_tokens} / cache r ${s.cache_read_tokens} / cache w ${s.cache_creation_tokens}` },
      fmtTokens(tokens)),
    h("td", { class: "num", "data-col": "cost" }, fmtUsd(s.cost_usd)));
}

export function mount(root, { params }) {
  const state = { source: params.get("source") || "", project: "", label: "", status: "", q: "",
                  cursors: [null], page: 0 };
  const overviewEl = h("div", { "aria-live": "off" });
  const filtersEl = h("div", { class: "filters", role: "search" });
  const tbody = h("tbody");
  const pager = h("div", { class: "pager" });
  root.append(
    h("h2", {}, "Claude Code sessions"),
    overviewEl,
    h("section", { class: "panel", "aria-labelledby": "sessions-title" },
      h("h3", { id: "sessions-title" }, "Sessions"),
      filtersEl,
      h("table", {}, h("caption", { class: "sr-only" }, "Sessions, newest first"),
        h("thead", {}, h("tr", {}, ["Session", "Source", "Project", "User", "Label", "Status", "Started",
          "Duration", "Tool calls", "Tokens", "Cost"].map((c) => h("th", { scope: "col" }, c)))),
        tbody),
      pager));

  async function loadOverview() {
    renderOverview(overviewEl, await api(`/api/ui/overview${query({ tz_offset_min: tzOffsetMin() })}`));
  }

  async function loadPage() {
    const { source, project, label, status, q } = state;
    const data = await api(`/api/ui/sessions${query({ source, project, label, status, q,
      before: state.cursors[state.page], limit: 50 })}`);
    clear(tbody, data.sessions.length ? data.sessions.map(row)
      : h("tr", {}, h("td", { colspan: 11, class: "muted" }, "No sessions match.")));
    state.cursors[state.page + 1] = data.next;
    clear(pager,
      h("button", { disabled: state.page === 0, onclick: () => { state.page -= 1; loadPage(); } }, "Newer"),
      h("span", { class: "muted" }, `Page ${state.page + 1}`),
      h("button", { disabled: !data.next, onclick: () => { state.page += 1; loadPage(); } }, "Older"));
  }

  function reset(key, value) {
    state[key] = value;
    state.cursors = [null];
    state.page = 0;
    loadPage();
  }

  async function loadFilters() {
    const f = await api("/api/ui/session-facets");
    const search = h("input", { type: "search", placeholder: "id, project, task, error…",
                                value: state.q });
    let timer = null;
    search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => reset("q", search.value.trim()), 300);
    });
    clear(filtersEl,
      h("div", { class: "seg", role: "group", "aria-label": "Source" },
        SOURCES.map((s) => h("button", { "aria-pressed": String(state.source === s),
          onclick: (ev) => {
            for (const b of ev.target.parentElement.children) b.setAttribute("aria-pressed", "false");
            ev.target.setAttribute("aria-pressed", "true");
            reset("source", s);
          } }, s || "all"))),
      labelled("Project", select("project", f.project, state.project, (v) => reset("project", v))),
      labelled("Label", select("label", f.label, state.label, (v) => reset("label", v))),
      labelled("Status", select("status", f.status, state.status, (v) => reset("status", v))),
      labelled("Search", search));
  }

  const refresh = () => {
    loadOverview().catch(() => {});
    if (state.page === 0) loadPage().catch(() => {});
  };
  loadFilters().catch(() => {});
  loadOverview().catch((e) => clear(overviewEl, h("p", { class: "banner warn" }, e.message)));
  loadPage().catch((e) => clear(tbody, h("tr", {}, h("td", { colspan: 11 }, e.message))));
  const timer = setInterval(refresh, REFRESH_MS);
  return () => clearInterval(timer);
}
