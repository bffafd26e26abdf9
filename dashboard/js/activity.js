// The live view's activity panels: events per minute over a 1/3/5/10-minute window and one
// swim lane per session or subagent. Starts from the server's bucket counts (/api/ui/rate),
// then counts each live event as it arrives.

import { api, query } from "./api.js";
import { barChart, legend, swimLanes } from "./charts.js";
import { clear, fmtInt, h, short } from "./dom.js";

const MAX_LANES = 12;
const BINS = 60;
const KEEP_MS = 600000; // the widest window
const POINTS_PER_LANE = 400;

function laneKey(ev) {
  return ev.agent_id ? `${ev.session_id}/${ev.agent_id}` : ev.session_id;
}

function laneLabel(ev) {
  const app = ev.source_app ? `${ev.source_app}:` : "";
  return ev.agent_id ? `${app}${short(ev.session_id, 6)}/${short(ev.agent_id, 6)}`
                     : `${app}${short(ev.session_id, 10)}`;
}

export class Activity {
  constructor(chartEl, lanesEl) {
    this.chartEl = chartEl;
    this.lanesEl = lanesEl;
    this.minutes = 5;
    this.perSec = new Map();
    this.lanes = new Map();
  }

  point(ev, point) {
    const key = laneKey(ev);
    if (!this.lanes.has(key)) this.lanes.set(key, { label: laneLabel(ev), points: [], last: 0 });
    const lane = this.lanes.get(key);
    lane.points.push(point);
    if (lane.points.length > POINTS_PER_LANE) lane.points.shift();
    lane.last = Math.max(lane.last, point.t);
  }

  add(sec, n) {
    this.perSec.set(sec, (this.perSec.get(sec) || 0) + n);
  }

  count(ev) {
    this.add(Math.floor(ev.timestamp / 1000), 1);
    this.point(ev, { t: ev.timestamp, type: ev.hook_event_type });
  }

  async load(filters) {
    const data = await api(`/api/ui/rate${query({ ...filters, minutes: this.minutes,
                                                  lanes: MAX_LANES })}`);
    this.perSec.clear();
    this.lanes.clear();
    for (const [b, n] of data.totals) this.add(Math.floor((data.since_ms + b * data.bucket_ms) / 1000), n);
    for (const lane of data.lanes) {
      for (const [b, n] of lane.buckets) {
        const t = data.since_ms + b * data.bucket_ms + data.bucket_ms / 2;
        this.point({ ...lane, timestamp: t }, { t, type: "earlier events", n });
      }
    }
    this.draw();
  }

  draw() {
    const now = Date.now();
    const span = this.minutes * 60000;
    const start = now - span;
    const binMs = span / BINS;
    const counts = new Array(BINS).fill(0);
    for (const [sec, n] of this.perSec) {
      const i = Math.floor((sec * 1000 - start) / binMs);
      if (i >= 0 && i < BINS) counts[i] += n;
      else if (sec * 1000 < now - KEEP_MS) this.perSec.delete(sec);
    }
    const total = counts.reduce((a, b) => a + b, 0);
    clear(this.chartEl,
      h("p", { class: "muted", "data-rate-total": total },
        `${fmtInt(total)} events in the last ${this.minutes} min, ` +
        `${(total / this.minutes).toFixed(1)} per minute`),
      barChart({ points: counts.map((n, i) => ({ x: `-${Math.round(((BINS - i) * binMs) / 1000)}s`,
                                                 values: { events: (n * 60000) / binMs } })),
                 keys: ["events"], height: 140, width: Math.max(this.chartEl.clientWidth, 400),
                 fmt: (v) => `${Math.round(v)}/min`,
                 label: `Events per minute over the last ${this.minutes} minutes` }));
    const lanes = [...this.lanes.values()].filter((l) => l.last >= start)
      .sort((a, b) => b.last - a.last).slice(0, MAX_LANES);
    const types = new Set();
    for (const l of lanes) for (const p of l.points) if (p.t >= start) types.add(p.type);
    clear(this.lanesEl, lanes.length
      ? [swimLanes({ lanes, start, end: now, width: Math.max(this.lanesEl.clientWidth, 480),
                     label: "Events per session and agent" }),
         legend([...types].slice(0, 12))]
      : h("p", { class: "muted" }, `No activity in the last ${this.minutes} minutes.`));
  }
}
