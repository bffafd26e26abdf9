// Analytics: tool usage, subagent spawns, cost per day per model, top errors, and usage
// grouped by user or by project (who spent what, where).

import { api, query, tzOffsetMin } from "../api.js";
import { barChart, hBars, legend } from "../charts.js";
import { clear, fmtDateTime, fmtDay, fmtInt, fmtTokens, fmtUsd, h } from "../dom.js";

const RANGES = [1, 7, 30];
const GROUPS = { user: "User", project: "Project" };

function segmented(label, options, current, onpick) {
  return h("div", { class: "seg", role: "group", "aria-label": label },
    options.map(([value, text]) => h("button", { "aria-pressed": String(value === current),
      "data-value": value, onclick: (ev) => {
        for (const b of ev.target.parentElement.children) b.setAttribute("aria-pressed", "false");
        ev.target.setAttribute("aria-pressed", "true");
        onpick(value);
      } }, text)));
}

function groupTable(group, rows) {
  if (!rows.length) return h("p", { class: "muted" }, "No sessions in this period.");
  return h("table", { "data-group": group },
    h("thead", {}, h("tr", {}, [GROUPS[group], "Sessions", "Cost", "Tokens", "Tool failures"]
      .map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.map((r) => h("tr", { "data-key": r.key },
      h("td", { class: "mono" }, r.key), h("td", { class: "num" }, fmtInt(r.sessions)),
      h("td", { class: "num", "data-col": "cost" }, fmtUsd(r.cost_usd)),
      h("td", { class: "num", "data-col": "tokens" }, fmtTokens(r.tokens)),
      h("td", { class: "num" }, fmtInt(r.tool_failures))))));
}

export function mount(root) {
  let days = 7;
  let group = "user";
  let last = null;
  const body = h("div");
  const groupEl = h("div");
  root.append(h("h2", {}, "Analytics"),
    segmented("Period", RANGES.map((d) => [d, d === 1 ? "Today" : `${d} days`]), days,
      (d) => { days = d; load(); }),
    h("section", { class: "panel", "aria-labelledby": "group-title" },
      h("h3", { id: "group-title" }, "Usage by ",
        segmented("Group by", Object.entries(GROUPS), group,
          (g) => { group = g; if (last) clear(groupEl, groupTable(group, last[`by_${group}`])); })),
      groupEl),
    body);

  function costChart(rows) {
    const byDay = new Map();
    const models = new Set();
    for (const r of rows) {
      models.add(r.model);
      if (!byDay.has(r.day_ms)) byDay.set(r.day_ms, {});
      byDay.get(r.day_ms)[r.model] = r.cost_usd;
    }
    const keys = [...models].sort();
    const points = [...byDay.entries()].sort((a, b) => a[0] - b[0])
      .map(([d, values]) => ({ x: fmtDay(d), values }));
    if (!points.length) return h("p", { class: "muted" }, "No cost recorded in this period.");
    return [barChart({ points, keys, fmt: fmtUsd, label: "Cost per day per model" }), legend(keys)];
  }

  async function load() {
    const d = await api(`/api/ui/analytics${query({ days, tz_offset_min: tzOffsetMin() })}`);
    last = d;
    clear(groupEl, groupTable(group, d[`by_${group}`]));
    clear(body, h("div", { class: "grid" },
      h("section", { class: "panel", "aria-labelledby": "tools-title" },
        h("h3", { id: "tools-title" }, "Tool usage"),
        d.tools.length ? hBars({ rows: d.tools.map((t) => ({ label: t.tool, value: t.calls,
          extra: t.failures ? ` (${fmtInt(t.failures)} failed)` : "" })), fmt: fmtInt,
          label: "Tool calls per tool" }) : h("p", { class: "muted" }, "No tool calls.")),
      h("section", { class: "panel", "aria-labelledby": "cost-title" },
        h("h3", { id: "cost-title" }, "Cost per day per model"), costChart(d.cost_by_day_model)),
      h("section", { class: "panel", "aria-labelledby": "sub-title" },
        h("h3", { id: "sub-title" }, "Subagent spawns"),
        d.subagents.length ? hBars({ rows: d.subagents.map((s) => ({ label: s.agent_type, value: s.count })),
          fmt: fmtInt, label: "Subagents started per type", barColor: () => "var(--c4)" })
          : h("p", { class: "muted" }, "No subagents.")),
      h("section", { class: "panel", "aria-labelledby": "err-title" },
        h("h3", { id: "err-title" }, "Top errors"),
        d.top_errors.length ? h("table", {},
          h("thead", {}, h("tr", {}, ["Where", "Error", "Count", "Last"].map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", {}, d.top_errors.map((e) => h("tr", {}, h("td", {}, e.where),
            h("td", { class: "mono" }, e.error), h("td", { class: "num" }, fmtInt(e.count)),
            h("td", { class: "num" }, fmtDateTime(e.last_ms))))))
          : h("p", { class: "muted" }, "No errors."))));
  }

  load().catch((e) => clear(body, h("p", { class: "banner warn" }, e.message)));
  const timer = setInterval(() => load().catch(() => {}), 30000);
  return () => clearInterval(timer);
}
