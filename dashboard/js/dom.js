// Small DOM and formatting helpers shared by the views.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function fmtInt(n) {
  return Number(n || 0).toLocaleString("en-US");
}

export function fmtTokens(n) {
  n = Number(n || 0);
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return fmtInt(n);
}

export function fmtUsd(n) {
  n = Number(n || 0);
  return n >= 100 ? `$${n.toFixed(0)}` : n >= 1 ? `$${n.toFixed(2)}` : `$${n.toFixed(4)}`;
}

export function fmtMs(ms) {
  if (ms === null || ms === undefined) return "";
  ms = Number(ms);
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${Math.round(s % 60)}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

export function fmtTime(ms) {
  return ms ? new Date(ms).toLocaleTimeString([], { hour12: false }) : "";
}

export function fmtDateTime(ms) {
  if (!ms) return "";
  const d = new Date(ms);
  return `${d.toLocaleDateString([], { month: "short", day: "numeric" })} ${fmtTime(ms)}`;
}

export function fmtDay(ms) {
  return new Date(ms).toLocaleDateString([], { month: "short", day: "numeric" });
}

export function short(id, n = 8) {
  id = String(id || "");
  return id.length > n + 1 ? `${id.slice(0, n)}…` : id;
}

const PALETTE = ["--c1", "--c2", "--c3", "--c4", "--c5", "--c6", "--c7", "--c8"];

export function color(key) {
  let hash = 0;
  for (const ch of String(key)) hash = (hash * 31 + ch.charCodeAt(0)) | 0;
  return `var(${PALETTE[Math.abs(hash) % PALETTE.length]})`;
}

export function statusChip(status) {
  const cls = { completed: "ok", success: "ok", failed: "bad", error: "bad", running: "running",
                abandoned: "warn", pending: "warn", responded: "ok", timeout: "bad",
                firing: "bad", enabled: "ok" }[status] || "";
  return h("span", { class: `chip ${cls}` }, status || "unknown");
}

let toastTimer = null;
export function toast(message) {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 6000);
}

export function labelled(text, control) {
  return h("label", {}, text, control);
}

export function select(name, options, value, onchange, allLabel = "All") {
  const el = h("select", { name, onchange: () => onchange(el.value) },
    h("option", { value: "" }, allLabel),
    options.map((o) => h("option", { value: o, selected: o === value }, o)));
  return el;
}
