// Session detail: what it was, tokens and cost per model, linked Ralph task or Claude Code
// session, and the timeline of prompts, tool calls (durations, failures), subagents, approvals.

import { api, query } from "../api.js";
import { clear, fmtDateTime, fmtInt, fmtMs, fmtTime, fmtTokens, fmtUsd, h, short,
         statusChip } from "../dom.js";

const TOOL_START = "PreToolUse";
const TOOL_END = new Set(["PostToolUse", "PostToolUseFailure", "PermissionDenied"]);
const OTLP_TOOL = "claude_code.tool_result";  // Claude Code's OpenTelemetry export

function facts(s) {
  const rows = [
    ["Source", s.source], ["Project", s.project], ["Label", s.label], ["App", s.source_app],
    ["Status", statusChip(s.status)], ["Started", fmtDateTime(s.started_at)],
    ["Duration", fmtMs(s.duration_ms ?? (s.last_event_at - s.started_at))],
    ["Prompts", fmtInt(s.prompts_count)],
    ["Tool calls", `${fmtInt(s.tool_calls_count)} (${fmtInt(s.tool_failures_count)} failed)`],
    ["Subagents", fmtInt(s.subagents_count)], ["Turns", s.num_turns ?? ""],
    ["Cost", h("span", { "data-metric": "cost" }, fmtUsd(s.cost_usd))],
    ["Task", s.task_title ? `${s.task_id || ""} ${s.task_title}` : s.task_id],
    // A Ralph task names its loop; a Claude Code session run by a task names that task.
    ["Ralph loop", s.loop_id && s.source !== "interactive" ? h("a", { href: "#/ralph" }, s.loop_id) : null],
    ["Run by task", s.loop_id && s.source === "interactive"
      ? h("a", { href: `#/session/${encodeURIComponent(s.loop_id)}`, class: "mono" }, s.loop_id) : null],
    ["Error", s.error],
  ].filter(([, v]) => v !== null && v !== undefined && v !== "");
  return h("dl", { class: "cards" }, rows.map(([k, v]) =>
    h("div", { class: "card" }, h("dt", { class: "k" }, k), h("dd", { class: "v", "data-fact": k }, v))));
}

function models(rows) {
  return h("table", { "aria-label": "Tokens and cost per model" },
    h("thead", {}, h("tr", {}, ["Model", "Input", "Output", "Cache read", "Cache write", "Cost"]
      .map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.map((m) => h("tr", { "data-model": m.model },
      h("td", {}, m.model), h("td", { class: "num" }, fmtInt(m.input_tokens)),
      h("td", { class: "num" }, fmtInt(m.output_tokens)),
      h("td", { class: "num" }, fmtInt(m.cache_read_tokens)),
      h("td", { class: "num" }, fmtInt(m.cache_creation_tokens)),
      h("td", { class: "num" }, fmtUsd(m.cost_usd))))));
}

// Pair tool starts with their ends so each call is one line with its duration and outcome.
function build(entries, events) {
  const open = entries.tools;
  for (const e of events) {
    if (e.type === TOOL_START && e.tool_use_id) {
      const item = { ...e, kind: "tool", status: "running" };
      open.set(e.tool_use_id, item);
      entries.list.push(item);
    } else if (e.type === OTLP_TOOL && e.tool_use_id && open.has(e.tool_use_id)) {
      // Claude Code's own report of a call its hooks already showed: one line, not two.
    } else if (e.type === OTLP_TOOL) {
      entries.list.push({ ...e, kind: "tool", status: e.ok === false ? "failed" : "ok" });
    } else if (TOOL_END.has(e.type) && e.tool_use_id && open.has(e.tool_use_id)) {
      const item = open.get(e.tool_use_id);
      item.status = e.type === "PostToolUse" ? "ok" : "failed";
      item.duration_ms = e.duration_ms ?? (e.t - item.t);
      item.error = e.error;
    } else {
      entries.list.push({ ...e, kind: "event",
                          status: e.type === "PostToolUseFailure" ? "failed" : "" });
    }
  }
}

const today = new Date().toDateString();

function line(e) {
  // Claude Code's OpenTelemetry events: the short name fits the column (the prefix is common).
  const what = e.kind === "tool" ? `${e.tool}` : e.type.replace(/^claude_code\./, "");
  const note = e.error ? ` – ${e.error}` : "";
  const outcome = e.kind === "tool"
    ? statusChip(e.status === "ok" ? "completed" : e.status === "failed" ? "failed" : "running")
    : e.hitl ? [statusChip(e.hitl.status), e.hitl.respondedBy
      ? h("span", { class: "muted" }, ` by ${e.hitl.respondedBy} at ${fmtTime(e.hitl.respondedAt)}`)
      : null] : "";
  return h("li", { class: `${e.agent_id ? "sub" : ""} ${e.status === "failed" ? "failed" : ""}`,
                   "data-type": e.kind === "tool" ? "tool" : e.type },
    h("span", { class: "mono", title: new Date(e.t).toString() },
      new Date(e.t).toDateString() === today ? fmtTime(e.t) : fmtDateTime(e.t)),
    h("span", {}, h("b", {}, what), e.agent_id ? h("span", { class: "muted" },
      ` (${e.agent_type || "agent"} ${short(e.agent_id, 6)})`) : null),
    h("span", { class: "mono" }, `${e.text || ""}${note}`, " ", outcome),
    h("span", { class: "num" }, e.kind === "tool" ? fmtMs(e.duration_ms) : ""));
}

export function mount(root, { arg }) {
  const head = h("div");
  const list = h("ol", { class: "timeline", "aria-label": "Timeline" });
  const more = h("button", { hidden: true, onclick: () => loadTimeline() }, "Load more");
  const entries = { list: [], tools: new Map(), after: 0 };
  root.append(h("p", {}, h("a", { href: "#/sessions" }, "← Sessions")), head,
    h("section", { class: "panel", "aria-labelledby": "tl-title" },
      h("h3", { id: "tl-title" }, "Timeline"), list, h("div", { class: "pager" }, more)));

  async function loadHead() {
    try {
      const d = await api(`/api/ui/sessions/${encodeURIComponent(arg)}`);
      const s = d.session;
      const tokens = s.input_tokens + s.output_tokens + s.cache_read_tokens + s.cache_creation_tokens;
      clear(head,
        h("h2", {}, `Session `, h("span", { class: "mono" }, s.id)),
        facts(s),
        h("section", { class: "panel", "aria-labelledby": "models-title" },
          h("h3", { id: "models-title" }, `Tokens and cost per model · ${fmtTokens(tokens)} tokens`),
          models(d.models)),
        d.linked.length ? h("section", { class: "panel", "aria-labelledby": "linked-title" },
          h("h3", { id: "linked-title" }, "Linked sessions"),
          h("ul", {}, d.linked.map((l) => h("li", {},
            h("a", { href: `#/session/${encodeURIComponent(l.id)}`, class: "mono" }, l.id),
            ` ${l.source}${l.task_title ? ` · ${l.task_title}` : ""} `, statusChip(l.status))))) : null,
        h("p", {}, h("a", { href: `#/live/?session_id=${encodeURIComponent(d.event_session_ids.at(-1))}` },
          "Watch this session live")));
    } catch (err) {
      clear(head, h("h2", {}, "Session ", h("span", { class: "mono" }, arg)),
        h("p", { class: "banner warn" }, err.status === 404
          ? "No session summary is stored for this id; showing its events." : err.message));
    }
  }

  async function loadTimeline() {
    const d = await api(`/api/ui/sessions/${encodeURIComponent(arg)}/timeline${query({
      after_id: entries.after, limit: 500 })}`);
    build(entries, d.events);
    if (d.events.length) entries.after = d.events.at(-1).id;
    clear(list, entries.list.length ? entries.list.map(line)
      : h("li", { class: "muted" }, "No events recorded for this session."));
    more.hidden = d.next_after_id === null;
  }

  loadHead();
  loadTimeline().catch((e) => clear(list, h("li", {}, e.message)));
  const timer = setInterval(() => { if (more.hidden) loadTimeline().catch(() => {}); }, 5000);
  return () => clearInterval(timer);
}
