// The single-page shell: hash routes to views, the pending-approvals badge, the alerts banner,
// the status line.

import { api } from "./api.js";
import { clear, h } from "./dom.js";
// Each view's module is fetched when the view is first shown: the first screen loads only
// what it draws.
const VIEWS = {
  sessions: () => import("./views/sessions.js"),
  live: () => import("./views/live.js"),
  approvals: () => import("./views/approvals.js"),
  analytics: () => import("./views/analytics.js"),
  ralph: () => import("./views/ralph.js"),
  alerts: () => import("./views/alerts.js"),
  session: () => import("./views/session.js"),
};
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

let routed = 0;

async function route() {
  const turn = ++routed;
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
  const view = await VIEWS[name]();
  if (turn !== routed) return; // another route began while this module loaded
  cleanup = view.mount(main, { arg, params, setStatus }) || null;
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
