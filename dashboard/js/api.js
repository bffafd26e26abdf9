// HTTP helpers: every request carries the token when the server wants one.
// On a 401 the page asks for the token once (one dialog however many requests failed),
// keeps it in sessionStorage for this tab, and retries.

const KEY = "router-ext-token";
let asking = null;

export function token() {
  return sessionStorage.getItem(KEY) || "";
}

function askToken() {
  if (asking) return asking;
  const dialog = document.getElementById("token-dialog");
  const input = document.getElementById("token-input");
  asking = new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      const value = input.value.trim();
      if (value) sessionStorage.setItem(KEY, value);
      input.value = "";
      asking = null;
      resolve(value);
    }, { once: true });
    if (!dialog.open) dialog.showModal();
    input.focus();
  });
  return asking;
}

export class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.detail || body.error)) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

const TIMEOUT_MS = 15000;

export async function api(path, { method = "GET", body, retried = false } = {}) {
  const headers = { accept: "application/json" };
  if (token()) headers.authorization = `Bearer ${token()}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), TIMEOUT_MS);
  let res;
  try {
    res = await fetch(path, { method, headers, signal: ctrl.signal,
                              body: body === undefined ? undefined : JSON.stringify(body) });
  } finally {
    clearTimeout(timer);
  }
  if (res.status === 401 && !retried) {
    sessionStorage.removeItem(KEY);
    if (await askToken()) return api(path, { method, body, retried: true });
  }
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

// A WebSocket or EventSource cannot send the token in a header, and a token in a URL ends up
// in logs and history: the page trades it (in a header) for a ticket that opens streams for a
// minute. Asks for the token like any call; null when no ticket could be had (the server is
// down, say: the stream then fails to open and retries like any other drop).
export async function streamTicket() {
  try {
    return (await api("/api/ui/ticket", { method: "POST", body: {} })).ticket;
  } catch {
    return null;
  }
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

export function tzOffsetMin() {
  return -new Date().getTimezoneOffset();
}
