// Ralph control: loops with their task completion, and a button asking a running loop to stop.

import { api, query } from "../api.js";
import { clear, fmtDateTime, fmtInt, h, short, statusChip, toast } from "../dom.js";

export function mount(root) {
  const loopsBody = h("tbody");
  const tasksBody = h("tbody");
  root.append(h("h2", {}, "Ralph loops"),
    h("section", { class: "panel", "aria-labelledby": "loops-title" },
      h("h3", { id: "loops-title" }, "Loops"),
      h("table", {}, h("thead", {}, h("tr", {}, ["Loop", "Project", "Tasks", "Completed", "Failed",
        "Completion", "Last activity", ""].map((c) => h("th", { scope: "col" }, c)))), loopsBody)),
    h("section", { class: "panel", "aria-labelledby": "tasks-title" },
      h("h3", { id: "tasks-title" }, "Recent tasks"),
      h("table", {}, h("thead", {}, h("tr", {}, ["Task", "Loop", "Status", "Started", "Session"]
        .map((c) => h("th", { scope: "col" }, c)))), tasksBody)));

  async function stop(loop, button) {
    if (!window.confirm(`Ask Ralph loop ${loop.loop_id} to stop after its current task?`)) return;
    button.disabled = true;
    try {
      await api(`/api/ralph/${encodeURIComponent(loop.loop_id)}/stop`, { method: "POST", body: {
        reason: "stop requested from the dashboard",
        requested_by: localStorage.getItem("router-ext-operator") || "dashboard" } });
      button.textContent = "Stop requested";
    } catch (err) {
      button.disabled = false;
      toast(`Could not stop ${loop.loop_id}: ${err.message}`);
    }
  }

  async function load() {
    const [{ loops }, tasks] = await Promise.all([
      api("/api/ui/ralph"), api(`/api/ui/sessions${query({ source: "ralph", limit: 30 })}`)]);
    clear(loopsBody, loops.length ? loops.map((l) => {
      const done = l.completed + l.failed;
      const button = h("button", { class: "bad", disabled: !l.running,
                                   "aria-label": `Stop loop ${l.loop_id}` }, "Stop");
      button.onclick = () => stop(l, button);
      return h("tr", { "data-loop": l.loop_id }, h("td", { class: "mono" }, l.loop_id),
        h("td", {}, l.project || ""), h("td", { class: "num" }, fmtInt(l.tasks)),
        h("td", { class: "num" }, fmtInt(l.completed)), h("td", { class: "num" }, fmtInt(l.failed)),
        h("td", { class: "num" }, done ? `${Math.round((100 * l.completed) / done)}%` : "–"),
        h("td", { class: "num" }, fmtDateTime(l.last_event_at)),
        h("td", {}, !l.running ? statusChip("idle") : l.stop_requested_at >= l.last_event_at
          ? h("span", { class: "chip warn" }, `Stop requested ${fmtDateTime(l.stop_requested_at)}`)
          : button));
    }) : h("tr", {}, h("td", { colspan: 8, class: "muted" }, "No Ralph loops recorded.")));
    clear(tasksBody, tasks.sessions.map((s) => h("tr", {},
      h("td", {}, h("a", { href: `#/session/${encodeURIComponent(s.id)}` }, s.task_title || s.task_id || s.id)),
      h("td", { class: "mono" }, s.loop_id || ""), h("td", {}, statusChip(s.status)),
      h("td", { class: "num" }, fmtDateTime(s.started_at)),
      h("td", {}, s.claude_session_id ? h("a", { class: "mono",
        href: `#/session/${encodeURIComponent(s.claude_session_id)}` }, short(s.claude_session_id, 10)) : ""))));
  }

  load().catch((e) => clear(loopsBody, h("tr", {}, h("td", { colspan: 8 }, e.message))));
  const timer = setInterval(() => load().catch(() => {}), 5000);
  return () => clearInterval(timer);
}
