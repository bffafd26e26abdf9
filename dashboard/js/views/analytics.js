// Analytics: tool usage, subagent spawns, cost per day per model, top errors.

import { api, query, tzOffsetMin } from "../api.js";
import { barChart, hBars, legend } from "../charts.js";
import { clear, fmtDateTime, fmtDay, fmtInt, fmtUsd, h } from "../dom.js";

const RANGES = [1, 7, 30];

export function mount(root) {
  let days = 7;
  const body = h("div");
  root.append(h("h2", {}, "Analytics"),
    h("div", { class: "seg", role: "group", "aria-label": "Period" },
      RANGES.map((d) => h("button", { "aria-pressed": String(d === days), onclick: (ev) => {
        days = d;
        for (const b of ev.target.parentElement.children) b.setAttribute("aria-pressed", "false");
        ev.target.setAttribute("aria-pressed", "true");
        load();
      } }, d === 1 ? "Today" : `${d} days`))),
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
