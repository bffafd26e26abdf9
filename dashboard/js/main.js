// The single-page shell: hash routes to views, the pending-approvals badge, the alerts banner,
// the status line.

import { api } from "./api.js";
import { clear, h } from "./dom.js";
import * as alerts from "./views/alerts.js";
import * as analytics from "./views/analytics.js";
import * as approvals from "./views/approvals.js";
import * as live from "./views/live.js";
import * as ralph from "./views/ralph.js";
import * as session from "./views/session.js";
import * as sessions from "./views/sessions.js";

const VIEWS = { sessions, live, approvals, analytics, ralph, alerts, session };
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

// Above every view while any alert rule fires: how many, the newest, a link to the Alerts view.
async function alertBanner() {
  const banner = document.getElementById("alert-banner");
  const badge = document.getElementById("firing-count");
  try {
    const { firing } = await api("/api/alerts");
    badge.textContent = String(firing.length);
    badge.hidden = banner.hidden = firing.length === 0;
    if (firing.length) {
      const n = firing.length;
      clear(banner, h("strong", {}, `${n} alert${n === 1 ? "" : "s"} firing: `),
        firing[0].message, n > 1 ? ` (and ${n - 1} more)` : "", " · ",
        h("a", { href: "#/alerts" }, "See alerts"));
    }
  } catch {
    /* the status line of the current view reports connection problems */
  }
}

window.addEventListener("hashchange", route);
route();
pendingBadge();
alertBanner();
setInterval(pendingBadge, 5000);
setInterval(alertBanner, 5000);
