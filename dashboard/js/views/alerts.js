// Alerts: what is firing, the rules (added, changed and removed here unless they come from the
// rules file), and recent episodes. The banner above every view is drawn by main.js.

import { api } from "../api.js";
import { clear, fmtDateTime, h, labelled, statusChip, toast } from "../dom.js";

const POLL_MS = 5000;
const KINDS = {
  cost: "Cost (USD)", tokens: "Tokens", hitl_wait: "Approval waiting (minutes)",
  session_idle: "Session quiet (minutes)", tool_failure_rate: "Tool failure rate (0-1)",
  ralph_failures: "Ralph failures in a row", spool_growth: "Host spool (bytes)",
};
const BUDGETS = ["cost", "tokens"];

function options(values, selected) {
  return Object.entries(values).map(([v, label]) =>
    h("option", { value: v, selected: v === selected }, label));
}

function ruleForm(onSaved) {
  const f = {
    name: h("input", { name: "name", required: true, maxlength: 128 }),
    kind: h("select", { name: "kind" }, options(KINDS, "cost")),
    threshold: h("input", { name: "threshold", type: "number", step: "any", min: 0,
                            required: true }),
    period: h("select", { name: "period" },
      options({ day: "Day", week: "Week", month: "Month", total: "Total" }, "day")),
    scope: h("select", { name: "scope" }, options({ all: "Everything", project: "Project",
                                                    user: "User", loop: "Ralph loop" }, "all")),
    match: h("input", { name: "match", value: "*", maxlength: 256 }),
    window: h("input", { name: "window", type: "number", min: 1, value: 15 }),
    minCount: h("input", { name: "min_count", type: "number", min: 1, value: 10 }),
    cooldown: h("input", { name: "cooldown", type: "number", min: 0, value: 60 }),
    stopRalph: h("input", { name: "stop_ralph", type: "checkbox" }),
    enabled: h("input", { name: "enabled", type: "checkbox", checked: true }),
    webhooks: h("textarea", { name: "webhooks", rows: 2, cols: 40,
                              placeholder: "one URL per line" }),
  };
  let editing = null;
  const title = h("h3", { id: "rule-form-title" }, "Add a rule");
  const save = h("button", { type: "submit", class: "primary" }, "Add rule");
  const cancel = h("button", { type: "button", hidden: true }, "Cancel");
  const form = h("form", { class: "filters rule-form", "aria-labelledby": "rule-form-title" },
    labelled("Name", f.name), labelled("Kind", f.kind), labelled("Threshold", f.threshold),
    labelled("Period", f.period), labelled("Scope", f.scope), labelled("Match", f.match),
    labelled("Window (minutes)", f.window), labelled("Min. calls", f.minCount),
    labelled("Cooldown (minutes)", f.cooldown), labelled("Stop Ralph loops", f.stopRalph),
    labelled("Enabled", f.enabled), labelled("Extra webhooks", f.webhooks), save, cancel);

  function reset() {
    editing = null;
    form.reset();
    title.textContent = "Add a rule";
    save.textContent = "Add rule";
    cancel.hidden = true;
  }

  function edit(rule) {
    editing = rule.id;
    f.name.value = rule.name;
    f.kind.value = rule.kind;
    f.threshold.value = rule.threshold;
    f.period.value = rule.period || "day";
    f.scope.value = rule.scope;
    f.match.value = rule.match;
    f.window.value = Math.round((rule.window_seconds || 900) / 60);
    f.minCount.value = rule.min_count || 10;
    f.cooldown.value = Math.round(rule.cooldown_seconds / 60);
    f.stopRalph.checked = rule.stop_ralph;
    f.enabled.checked = rule.enabled;
    f.webhooks.value = (rule.webhooks || []).join("\n");
    title.textContent = `Change rule ${rule.name}`;
    save.textContent = "Save rule";
    cancel.hidden = false;
    f.threshold.focus();
  }

  function body() {
    const kind = f.kind.value;
    const out = { name: f.name.value.trim(), kind, threshold: Number(f.threshold.value),
                  cooldown_seconds: Math.round(Number(f.cooldown.value) * 60),
                  enabled: f.enabled.checked,
                  webhooks: f.webhooks.value.split("\n").map((s) => s.trim()).filter(Boolean) };
    if (BUDGETS.includes(kind)) {
      Object.assign(out, { period: f.period.value, scope: f.scope.value,
                           match: f.match.value.trim() || "*", stop_ralph: f.stopRalph.checked });
    } else if (kind === "tool_failure_rate") {
      Object.assign(out, { scope: f.scope.value === "project" ? "project" : "all",
                           match: f.match.value.trim() || "*",
                           window_seconds: Math.round(Number(f.window.value) * 60),
                           min_count: Number(f.minCount.value) });
    }
    return out;
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    save.disabled = true;
    try {
      if (editing === null) await api("/api/alerts/rules", { method: "POST", body: body() });
      else await api(`/api/alerts/rules/${editing}`, { method: "PUT", body: body() });
      reset();
      onSaved();
    } catch (err) {
      toast(`Could not save the rule: ${err.message}`);
    } finally {
      save.disabled = false;
    }
  });
  cancel.addEventListener("click", reset);
  return { el: h("section", { class: "panel" }, title, form), edit };
}

function describeRule(r) {
  const parts = [KINDS[r.kind], `≥ ${r.threshold}`];
  if (r.period) parts.push(`per ${r.period}`);
  if (r.scope !== "all") parts.push(`${r.scope} ${r.match}`);
  if (r.window_seconds) parts.push(`over ${Math.round(r.window_seconds / 60)} min`);
  if (r.stop_ralph) parts.push("stops Ralph");
  return parts.join(" · ");
}

export function mount(root) {
  const firingBody = h("tbody");
  const rulesBody = h("tbody");
  const recentBody = h("tbody");
  const form = ruleForm(() => load());
  const checkNow = h("button", { type: "button" }, "Check now");
  checkNow.addEventListener("click", async () => {
    checkNow.disabled = true;
    try {
      await api("/api/alerts/check", { method: "POST" });
      await load();
    } catch (err) {
      toast(`Could not check the rules: ${err.message}`);
    } finally {
      checkNow.disabled = false;
    }
  });
  const table = (id, title, head, body) => h("section", { class: "panel", "aria-labelledby": id },
    h("h3", { id }, title),
    h("table", {}, h("thead", {}, h("tr", {}, head.map((c) => h("th", { scope: "col" }, c)))),
      body));
  root.append(h("h2", {}, "Alerts"), h("div", { class: "filters" }, checkNow),
    table("firing-title", "Firing now", ["Rule", "About", "What", "Since"], firingBody),
    table("rules-title", "Rules", ["Rule", "Watches", "Cooldown", "State", ""], rulesBody),
    form.el,
    table("recent-title", "Recent episodes", ["Rule", "About", "What", "Began", "Resolved"],
      recentBody));

  async function remove(rule) {
    if (!window.confirm(`Remove the alert rule ${rule.name}?`)) return;
    try {
      await api(`/api/alerts/rules/${rule.id}`, { method: "DELETE" });
      await load();
    } catch (err) {
      toast(`Could not remove ${rule.name}: ${err.message}`);
    }
  }

  function ruleRow(r) {
    const actions = r.origin === "file" ? h("span", { class: "muted" }, "from the rules file")
      : [h("button", { type: "button", "aria-label": `Change rule ${r.name}`,
                       onclick: () => form.edit(r) }, "Change"),
         h("button", { type: "button", class: "bad", "aria-label": `Remove rule ${r.name}`,
                       onclick: () => remove(r) }, "Remove")];
    return h("tr", { "data-rule": r.name }, h("td", {}, r.name), h("td", {}, describeRule(r)),
      h("td", { class: "num" }, `${Math.round(r.cooldown_seconds / 60)} min`),
      h("td", {}, statusChip(r.enabled ? "enabled" : "disabled")), h("td", {}, actions));
  }

  async function load() {
    const [{ firing, rules }, { episodes }] = await Promise.all([
      api("/api/alerts"), api("/api/alerts/episodes?limit=50")]);
    clear(firingBody, firing.length ? firing.map((e) => h("tr", { "data-episode": e.id },
      h("td", {}, e.rule_name), h("td", { class: "mono" }, e.subject), h("td", {}, e.message),
      h("td", { class: "num" }, fmtDateTime(e.started_at))))
      : h("tr", {}, h("td", { colspan: 4, class: "muted" }, "Nothing is firing.")));
    clear(rulesBody, rules.length ? rules.map(ruleRow)
      : h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No rules yet: add one below.")));
    clear(recentBody, episodes.map((e) => h("tr", { "data-episode": e.id },
      h("td", {}, e.rule_name), h("td", { class: "mono" }, e.subject), h("td", {}, e.message),
      h("td", { class: "num" }, fmtDateTime(e.started_at)),
      h("td", { class: "num" }, e.resolved_at ? fmtDateTime(e.resolved_at) : statusChip("firing")))));
  }

  load().catch((e) => clear(firingBody, h("tr", {}, h("td", { colspan: 4 }, e.message))));
  const timer = setInterval(() => load().catch(() => {}), POLL_MS);
  return () => clearInterval(timer);
}
