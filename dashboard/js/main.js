// The single-page shell: hash routes to views, the pending-approvals badge, the status line.

import { api } from "./api.js";
import * as analytics from "./views/analytics.js";
import * as approvals from "./views/approvals.js";
import * as live from "./views/live.js";
import * as ralph from "./views/ralph.js";
import * as session from "./views/session.js";
import * as sessions from "./views/sessions.js";

const VIEWS = { sessions, live, approvals, analytics, ralph, session };
const main = document.getElementById("main");
let cleanup = null;

export function setStatus(text, cls = "") {
  const el = document.getElementById("conn");
  el.textContent = text;
  el.className = `conn ${cls}`;
}

function parseHash() {
  const [, name = "sessions", ...rest] = location.hash.split("/");
  const [path, qs = ""] = rest.join("/").split("?");
  return { name: VIEWS[name] ? name : "sessions", arg: decodeURIComponent(path || ""),
           params: new URLSearchParams(qs) };
}

function route() {
  const { name, arg, params } = parseHash();
  if (cleanup) cleanup();
  cleanup = null;
  setStatus("");
  for (const a of document.querySelectorAll(".tabs a")) {
    const current = a.dataset.view === name || (name === "session" && a.dataset.view === "sessions");
    if (current) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  main.replaceChildren();
  main.dataset.view = name;
  cleanup = VIEWS[name].mount(main, { arg, params, setStatus }) || null;
  main.focus({ preventScroll: true });
}

async function pendingBadge() {
  const badge = document.getElementById("pending-count");
  try {
    const { events } = await api("/api/ui/approvals?state=pending&limit=500");
    badge.textContent = events.length >= 500 ? "500+" : String(events.length);
    badge.hidden = events.length === 0;
  } catch {
    /* the status line of the current view reports connection problems */
  }
}

window.addEventListener("hashchange", route);
route();
pendingBadge();
setInterval(pendingBadge, 5000);
