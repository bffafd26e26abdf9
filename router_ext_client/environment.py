"""The environment variables read outside the server, declared once for the reference.

The client, the hook, the gate, the emitter, the Ralph script and the reference harness API read
these where they start (cheaply, with os.environ); this table is what docs/configuration.md is
generated from, and a test checks that every variable the code reads is listed here or in the
server's settings. Nothing on a hook's path imports this module.
"""

from __future__ import annotations

# (variable, default, meaning, read by)
VARIABLES: tuple[tuple[str, str, str, str], ...] = (
    ("ROUTER_EXT_URL", "`http://127.0.0.1:4000`",
     "Server to report to: `http://H:P`, or `grpc://H:P` for the gRPC IngestService "
     "(`--server`).", "client, hook, emitter, Ralph script"),
    ("ROUTER_EXT_INGEST_TOKEN", "none",
     "Bearer token sent with every event (`--token`); the ingest role's token.",
     "client, hook, emitter, spool flush, import"),
    ("ROUTER_EXT_TOKEN", "none", "Used when `ROUTER_EXT_INGEST_TOKEN` (or, for `tail`, "
     "`ROUTER_EXT_READ_TOKEN`) is unset; `hooks install --otel` writes the ingest token "
     "into Claude Code's OTLP headers.", "client, hook, emitter, tail, hooks install"),
    ("ROUTER_EXT_READ_TOKEN", "none", "Bearer token of the read role.", "router-ext tail"),
    ("ROUTER_EXT_OTEL", "none", "Written (as `1`) by `hooks install --otel` beside Claude "
     "Code's telemetry variables in its settings' `env`, so uninstall removes only those; "
     "nothing reads it.", "hooks install / uninstall"),
    ("ROUTER_EXT_SPOOL_DIR", "`~/.local/state/router-ext/spool`",
     "Spool folder for events the server could not take yet (`--spool-dir`).",
     "client, hook, emitter"),
    ("ROUTER_EXT_DEADLINE", "`5`", "Seconds per event, retries included, before it is spooled.",
     "client, emitter"),
    ("ROUTER_EXT_ATTEMPT_TIMEOUT", "`2`", "Longest single attempt, in seconds.",
     "client, emitter"),
    ("ROUTER_EXT_MAX_ATTEMPTS", "`4`", "Attempts per event.", "client, emitter"),
    ("ROUTER_EXT_SPOOL_MAX_BYTES", "`67108864`",
     "Spool size bound; past it new events are dropped and counted.", "client, hook, emitter"),
    ("ROUTER_EXT_REPLAY_BATCH", "`200`",
     "Spooled events replayed after each successful send.", "client, hook, emitter"),
    ("ROUTER_EXT_HOST_ID", "the host name", "Host id sent with each event.",
     "client, hook, emitter"),
    ("ROUTER_EXT_REDACT", "on",
     "`0` turns off redacting secrets before an event is spooled or sent.",
     "client, hook, emitter"),
    ("ROUTER_EXT_REDACT_PATTERNS", "none", "File of extra secret patterns to redact.",
     "client, hook, emitter"),
    ("ROUTER_EXT_HOOK_BUDGET", "`0.11`",
     "Hook wall budget in seconds, process start to the end of its send (an attempt always "
     "gets at least 0.03 s).", "hook"),
    ("ROUTER_EXT_HOOK_DEADLINE", "`0.1`", "A hook's send deadline in seconds.", "hook"),
    ("ROUTER_EXT_HOOK_ATTEMPT_TIMEOUT", "`0.1`", "A hook's longest attempt in seconds.", "hook"),
    ("ROUTER_EXT_HOOK_ATTEMPTS", "`1`", "A hook's attempts before it spools.", "hook"),
    ("ROUTER_EXT_HOOK_DETACH", "`1`",
     "`0` reads transcript usage in the hook process instead of a detached child.", "hook"),
    ("ROUTER_EXT_SOURCE_APP", "the project folder's name",
     "`source_app` of hook events (`--source-app`).", "hook"),
    ("ROUTER_EXT_GATE", "off", "`1` turns on the PreToolUse gate (`--gate`).", "hook"),
    ("ROUTER_EXT_GATE_PATTERNS", "built-in patterns",
     "File of regular expressions (one per line) for commands that need a person's approval.",
     "hook (gate)"),
    ("ROUTER_EXT_GATE_TIMEOUT", "`60`", "Seconds the gate waits for an answer.", "hook (gate)"),
    ("ROUTER_EXT_GATE_DEFAULT", "`deny`", "The gate's decision when nobody answers.",
     "hook (gate)"),
    ("ROUTER_EXT_GRPC", "`127.0.0.1:4317`", "gRPC address `router-ext tail` subscribes to.",
     "router-ext tail"),
    ("ROUTER_EXT_STATUSLINE_TIMEOUT", "`0.25`",
     "Seconds the status line waits for the server before counting local transcripts.",
     "router-ext statusline"),
    ("ROUTER_EXT_STATUSLINE_RETRY", "`30`",
     "Seconds the status line leaves a server that did not answer alone.",
     "router-ext statusline"),
    ("ROUTER_EXT_STATUSLINE_CACHE", "`~/.cache/router-ext/statusline.cache`",
     "The status line's cache of the last day of local usage.", "router-ext statusline"),
    ("ROUTER_EXT_PRICES", "the packaged table",
     "Price table (JSON) that overrides the packaged one, also for reports and the status line.",
     "router-ext report, router-ext statusline"),
    ("ROUTER_EXT_PYTHON", "`.venv/bin/python`, else `python3`",
     "Python that runs the emitter.", "Ralph script"),
    ("RALPH_CONTROL_URL", "`--server`",
     "HTTP address where the Ralph script reads stop requests when it reports over gRPC "
     "(`--control-url`).", "Ralph script"),
    ("RALPH_MAX_ITERATIONS", "`10`", "Tasks before the Ralph script stops (`--max-iterations`).",
     "Ralph script"),
    ("RALPH_COMPLETION_PROMISE", "none",
     "Stop when a result contains `<promise>TEXT</promise>` (`--completion-promise`).",
     "Ralph script"),
    ("CLAUDE_BIN", "`claude`", "The Claude Code CLI to run.", "Ralph script, harness API"),
    ("HARNESS_HOST", "`127.0.0.1`", "Address the reference harness API binds.", "harness API"),
    ("HARNESS_PORT", "`8000`", "Port of the reference harness API.", "harness API"),
    ("HARNESS_REQUIRE_PROJECT", "off", "`1` refuses requests without `X-Project`.",
     "harness API"),
    ("HARNESS_MAX_RUNNING", "`4`", "Jobs run at once.", "harness API"),
    ("HARNESS_CLAUDE_BIN", "`claude`", "The Claude Code CLI the harness API runs.",
     "harness API"),
    ("HARNESS_CLAUDE_ARGS", "none", "Extra arguments for `claude -p`.", "harness API"),
    ("HARNESS_WORKDIR", "the current folder", "Working folder of `claude -p`.", "harness API"),
    ("HARNESS_MODEL", "the CLI's default", "Model for `claude -p`.", "harness API"),
    ("HARNESS_TIMEOUT", "`600`", "Seconds a `claude -p` run may take.", "harness API"),
)
