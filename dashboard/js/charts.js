// Plain SVG charts: vertical bars (optionally stacked), horizontal bars, and swim lanes.
// Each chart carries a <title> and an aria-label so screen readers get the numbers too.

import { color } from "./dom.js";

const NS = "http://www.w3.org/2000/svg";

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function svgRoot(width, height, label) {
  return s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img",
                    "aria-label": label }, s("title", {}, label));
}

// series: [{label, values: [{key, value}]}] per x position; keys stack in the given order.
export function barChart({ points, keys, width = 640, height = 180, label, fmt = String,
                           xLabel = (p) => p.x }) {
  const pad = { l: 64, r: 8, t: 8, b: 22 };
  const svg = svgRoot(width, height, label);
  const totals = points.map((p) => keys.reduce((a, k) => a + (p.values[k] || 0), 0));
  const max = Math.max(1e-9, ...totals);
  const iw = width - pad.l - pad.r;
  const ih = height - pad.t - pad.b;
  const bw = iw / Math.max(points.length, 1);
  svg.append(s("line", { x1: pad.l, y1: pad.t + ih, x2: width - pad.r, y2: pad.t + ih, class: "axis" }));
  svg.append(s("text", { x: pad.l - 4, y: pad.t + 10, "text-anchor": "end" }, fmt(max)));
  svg.append(s("text", { x: pad.l - 4, y: pad.t + ih, "text-anchor": "end" }, fmt(0)));
  const every = Math.ceil(points.length / 10);
  points.forEach((p, i) => {
    let y = pad.t + ih;
    const x = pad.l + i * bw + bw * 0.1;
    for (const k of keys) {
      const v = p.values[k] || 0;
      if (!v) continue;
      const bh = (v / max) * ih;
      y -= bh;
      svg.append(s("rect", { x, y, width: Math.max(bw * 0.8, 1), height: Math.max(bh, 0.5),
                             fill: color(k) }, s("title", {}, `${xLabel(p)} ${k}: ${fmt(v)}`)));
    }
    if (i % every === 0) {
      svg.append(s("text", { x: x + bw * 0.4, y: height - 6, "text-anchor": "middle" }, xLabel(p)));
    }
  });
  return svg;
}

// rows: [{label, value, extra}] drawn as horizontal bars with the value at the end.
export function hBars({ rows, width = 520, label, fmt = String, barColor = () => "var(--c1)" }) {
  const rowH = 22;
  const height = Math.max(rows.length * rowH + 4, 24);
  const svg = svgRoot(width, height, label);
  const max = Math.max(1e-9, ...rows.map((r) => r.value));
  const lw = 150;
  rows.forEach((r, i) => {
    const y = i * rowH + 2;
    const w = ((width - lw - 130) * r.value) / max;
    svg.append(s("text", { x: lw - 6, y: y + 14, "text-anchor": "end" }, r.label.slice(0, 24)));
    svg.append(s("rect", { x: lw, y: y + 3, width: Math.max(w, 1), height: rowH - 8,
                           fill: barColor(r) }, s("title", {}, `${r.label}: ${fmt(r.value)}`)));
    svg.append(s("text", { x: lw + w + 4, y: y + 14 }, fmt(r.value) + (r.extra || "")));
  });
  return svg;
}

// lanes: [{label, key, points: [{t, type}]}]; time runs from start to end (ms).
export function swimLanes({ lanes, start, end, width = 900, label }) {
  const laneH = 22;
  const lw = 170;
  const height = Math.max(lanes.length * laneH + 20, 40);
  const svg = svgRoot(width, height, label);
  const iw = width - lw - 10;
  const x = (t) => lw + ((t - start) / (end - start)) * iw;
  lanes.forEach((lane, i) => {
    const y = i * laneH + 4;
    svg.append(s("rect", { x: lw, y, width: iw, height: laneH - 4, fill: "var(--chip)", rx: 3 }));
    svg.append(s("text", { x: lw - 6, y: y + 13, "text-anchor": "end" }, lane.label));
    for (const p of lane.points) {
      if (p.t < start) continue;
      svg.append(s("circle", { cx: x(p.t), cy: y + (laneH - 4) / 2, r: 4, fill: color(p.type) },
                   s("title", {}, `${p.n ? `${p.n} ` : ""}${p.type} ${new Date(p.t).toLocaleTimeString()}`)));
    }
  });
  const mins = Math.round((end - start) / 60000);
  svg.append(s("text", { x: lw, y: height - 4 }, `-${mins}m`));
  svg.append(s("text", { x: width - 10, y: height - 4, "text-anchor": "end" }, "now"));
  return svg;
}

export function legend(keys) {
  const el = document.createElement("div");
  el.className = "legend";
  for (const k of keys) {
    const item = document.createElement("span");
    const sw = document.createElement("i");
    sw.style.background = color(k);
    item.append(sw, k);
    el.append(item);
  }
  return el;
}
