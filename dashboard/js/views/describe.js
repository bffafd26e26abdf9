// One line that says what an event was about: the prompt, command, file, error...

const KEYS = ["prompt", "command", "file_path", "path", "pattern", "url", "query", "error",
              "message", "last_assistant_message", "description", "reason", "source"];

export function describe(payload) {
  if (!payload || typeof payload !== "object") return "";
  const input = payload.tool_input && typeof payload.tool_input === "object" ? payload.tool_input : {};
  for (const src of [input, payload]) {
    for (const k of KEYS) {
      const v = src[k];
      if (typeof v === "string" && v) return v.length > 200 ? `${v.slice(0, 199)}…` : v;
    }
  }
  return "";
}
