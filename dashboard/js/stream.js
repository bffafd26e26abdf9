// The live event stream over WebSocket /stream, with resume.
//
// Every event carries an id that only grows. After a disconnect (network, server restart, or
// the server cutting a slow client) we reconnect with after_id = the last id we hold, so the
// server replays what we missed from its database before going live again: nothing is missed
// silently. While the replay runs the state is "catching-up"; it is "live" again once we hold
// the newest matching id the server had when we reconnected, or a heartbeat arrives.

import { api, query, streamTicket } from "./api.js";

const MAX_BACKOFF_MS = 10000;
const INITIAL_LIMIT = 200; // newest events shown on connect; older ones page in on demand

export class LiveStream {
  constructor({ filters = {}, onEvents, onState, initialLimit = INITIAL_LIMIT }) {
    this.filters = filters;
    this.initialLimit = initialLimit;
    this.onEvents = onEvents;
    this.onState = onState;
    this.lastId = null;
    this.target = 0;
    this.attempt = 0;
    this.ws = null;
    this.stopped = false;
    this.state = "connecting";
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000, "view closed");
    this.ws = null;
  }

  setState(state, detail = "") {
    this.state = state;
    this.onState(state, detail);
  }

  url(ticket) {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const params = { ...this.filters, after_id: this.lastId ?? undefined, ticket: ticket ?? undefined,
                     limit: this.lastId === null ? this.initialLimit : undefined };
    return `${proto}//${location.host}/stream${query(params)}`;
  }

  async connect() {
    if (this.stopped) return;
    const resuming = this.lastId !== null;
    if (resuming) {
      this.setState("catching-up", `resuming after #${this.lastId}`);
      try {
        this.target = (await api(`/api/ui/cursor${query(this.filters)}`)).last_id;
      } catch {
        this.target = Number.MAX_SAFE_INTEGER; // unknown: a heartbeat will say we are live
      }
    } else {
      this.setState("connecting");
    }
    const ticket = await streamTicket(); // a fresh one per connection: they last a minute
    if (this.stopped) return;
    const ws = new WebSocket(this.url(ticket));
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      // Nothing newer than what we hold: caught up already.
      if (!resuming || this.lastId >= this.target) this.setState("live");
    };
    ws.onmessage = (msg) => this.handle(JSON.parse(msg.data));
    ws.onclose = (ev) => this.closed(ws, ev);
  }

  handle(msg) {
    if (msg.type === "initial") {
      this.take(msg.data || [], true);
    } else if (msg.type === "event") {
      this.take([msg.data], false);
    } else if (msg.type === "heartbeat") {
      if (typeof msg.last_id === "number" && msg.last_id > (this.lastId ?? 0)) {
        this.lastId = msg.last_id;
      }
      if (this.state === "catching-up") this.setState("live");
    }
  }

  take(events, initial) {
    if (!events.length) return;
    for (const ev of events) {
      if (this.lastId === null || ev.id > this.lastId) this.lastId = ev.id;
    }
    this.onEvents(events, initial);
    if (this.state === "catching-up" && this.lastId >= this.target) this.setState("live");
    else if (this.state === "catching-up") {
      this.setState("catching-up", `${this.target - this.lastId} ids to go`);
    }
  }

  closed(ws, ev) {
    if (ws !== this.ws || this.stopped) return;
    // The server's reason names the id to resume from when it cut us off; we resume from the
    // last id we actually hold, which is never later than that.
    const m = /(\d+)/.exec(ev.reason || "");
    if (this.lastId === null && m) this.lastId = Number(m[1]);
    const delay = Math.min(MAX_BACKOFF_MS, 250 * 2 ** this.attempt);
    this.attempt += 1;
    this.setState("down", `disconnected (${ev.code}${ev.reason ? `: ${ev.reason}` : ""}); ` +
                          `retrying in ${Math.round(delay / 100) / 10}s`);
    this.timer = setTimeout(() => this.connect(), delay);
  }
}
