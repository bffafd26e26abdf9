// Approvals: pending human-in-the-loop requests (question, permission, choice, and held Claude
// Code permission requests) with controls to answer; who answered what, when; what timed out.

import { api } from "../api.js";
import { clear, fmtDateTime, fmtTime, h, labelled, short, statusChip, toast } from "../dom.js";
import { describe } from "./describe.js";

const NAME_KEY = "router-ext-operator";
const POLL_MS = 1500;

function toolLine(ev) {
  const p = ev.payload || {};
  if (!p.tool_name && !ev.tool_name) return null;
  return h("div", { class: "mono" }, h("b", {}, `${ev.tool_name || p.tool_name}: `), describe(p));
}

function remaining(ev) {
  const hitl = ev.humanInTheLoop || {};
  const status = ev.humanInTheLoopStatus || {};
  const started = status.requestedAt || ev.timestamp;
  if (!hitl.timeout) return "";
  const left = Math.max(0, Math.round((started + hitl.timeout * 1000 - Date.now()) / 1000));
  return `${left}s left`;
}

export function mount(root) {
  const name = h("input", { id: "operator", value: localStorage.getItem(NAME_KEY) || "",
                            autocomplete: "name", placeholder: "your name" });
  name.addEventListener("change", () => localStorage.setItem(NAME_KEY, name.value.trim()));
  const pendingEl = h("div", { "aria-live": "polite" });
  const doneBody = h("tbody");
  root.append(
    h("h2", {}, "Approvals"),
    h("div", { class: "filters" }, labelled("Answer as", name)),
    h("section", { class: "panel", "aria-labelledby": "pending-title" },
      h("h3", { id: "pending-title" }, "Waiting for an answer"), pendingEl),
    h("section", { class: "panel", "aria-labelledby": "done-title" },
      h("h3", { id: "done-title" }, "Answered and timed out"),
      h("table", {}, h("thead", {}, h("tr", {}, ["Request", "Kind", "Outcome", "Answer", "By",
        "When", "Session"].map((c) => h("th", { scope: "col" }, c)))), doneBody)));

  const busy = new Set();
  let shownKey = null;

  async function respond(ev, body, buttons) {
    busy.add(ev.id);
    for (const b of buttons) b.disabled = true;
    try {
      await api(`/events/${ev.id}/respond`, { method: "POST",
        body: { ...body, respondedBy: name.value.trim() || "dashboard" } });
    } catch (err) {
      toast(`Could not answer #${ev.id}: ${err.message}`);
    } finally {
      busy.delete(ev.id);
      refresh();
    }
  }

  function controls(ev) {
    const kind = (ev.humanInTheLoop || {}).type || "question";
    const buttons = [];
    const btn = (label, cls, body) => {
      const b = h("button", { class: cls, onclick: () => respond(ev, body, buttons) }, label);
      buttons.push(b);
      return b;
    };
    if (kind === "permission") {
      return [btn("Approve", "ok", { permission: true }), btn("Deny", "bad", { permission: false })];
    }
    if (kind === "choice") {
      return (ev.humanInTheLoop.choices || []).map((c) => btn(c, "primary", { choice: c }));
    }
    const text = h("input", { type: "text", "aria-label": `Answer to request ${ev.id}`, size: 40 });
    const send = btn("Send", "primary", {});
    send.onclick = () => text.value.trim() && respond(ev, { response: text.value.trim() }, buttons);
    text.addEventListener("keydown", (e) => { if (e.key === "Enter") send.click(); });
    return [text, send];
  }

  function card(ev) {
    const hitl = ev.humanInTheLoop || {};
    return h("article", { class: "approval", "data-id": ev.id, "data-kind": hitl.type,
                          "aria-label": `${hitl.type || "question"} request ${ev.id}` },
      h("div", { class: "q" }, hitl.question || ev.hook_event_type),
      toolLine(ev),
      h("div", { class: "muted" }, `${hitl.type || "question"} · ${ev.source_app} · `,
        h("a", { href: `#/session/${encodeURIComponent(ev.session_id)}`, class: "mono" },
          short(ev.session_id, 10)),
        ` · asked ${fmtTime(ev.timestamp)} `, h("span", { class: "left" }, remaining(ev))),
      h("div", { class: "controls" }, controls(ev)));
  }

  function answer(status) {
    const r = status.response;
    if (r === undefined || r === null) return "";
    if (typeof r === "object") {
      if ("permission" in r) return r.permission ? "approved" : "denied";
      return r.response ?? r.choice ?? JSON.stringify(r);
    }
    return typeof r === "boolean" ? (r ? "approved" : "denied") : String(r);
  }

  async function refresh() {
    const [pending, done] = await Promise.all([
      api("/api/ui/approvals?state=pending&limit=100"),
      api("/api/ui/approvals?state=resolved&limit=50")]);
    // Redraw only when the set of requests changed, so focus and typing survive the polling.
    const key = pending.events.map((e) => e.id).join(",");
    const typing = pendingEl.contains(document.activeElement) && document.activeElement.tagName === "INPUT";
    if (key !== shownKey && !typing && !busy.size) {
      const focusedCard = document.activeElement?.closest?.(".approval")?.dataset.id;
      shownKey = key;
      clear(pendingEl, pending.events.length ? pending.events.map(card)
        : h("p", { class: "muted" }, "Nothing is waiting."));
      const again = focusedCard && pendingEl.querySelector(`.approval[data-id="${focusedCard}"] button`);
      if (again) again.focus();
    } else {
      for (const el of pendingEl.querySelectorAll(".left")) {
        const ev = pending.events.find((e) => String(e.id) === el.closest(".approval").dataset.id);
        if (ev) el.textContent = remaining(ev);
      }
    }
    clear(doneBody, done.events.map((ev) => {
      const s = ev.humanInTheLoopStatus || {};
      return h("tr", { "data-id": ev.id },
        h("td", {}, (ev.humanInTheLoop || {}).question || ev.hook_event_type),
        h("td", {}, (ev.humanInTheLoop || {}).type || ""),
        h("td", {}, statusChip(s.status), s.deliveryError ? h("div", { class: "muted" }, s.deliveryError) : null),
        h("td", {}, answer(s)), h("td", {}, s.respondedBy || ""),
        h("td", { class: "num" }, fmtDateTime(s.respondedAt)),
        h("td", { class: "mono" }, short(ev.session_id, 10)));
    }));
  }

  refresh().catch((e) => clear(pendingEl, h("p", { class: "banner warn" }, e.message)));
  const timer = setInterval(() => refresh().catch(() => {}), POLL_MS);
  return () => clearInterval(timer);
}
