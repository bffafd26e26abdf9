#!/usr/bin/env bash
# ralph-wiggum.sh: run `claude -p` task after task and report every task to router-ext.
#
# Tasks come from `bd ready --json` (beads) when it is installed, else from a tasks file, else
# the same PROMPT.md is run each iteration. Each task runs as
#   claude -p PROMPT --output-format json --session-id UUID
# and is reported (task_started, then task_completed or task_failed with duration, exit code,
# tokens, cost, turns and the Claude session id) through router-ext's retrying emitter, never
# curl, so nothing is lost when the server is down. Reporting can never fail the loop.
set -u

usage() {
  cat <<'EOF'
Usage: ralph-wiggum.sh [options] [-- extra claude arguments]

Runs Claude Code headless over a list of tasks, reporting each to router-ext.

Task source (first that applies):
  --beads               take tasks from `bd ready --json` (default when bd is installed)
  --tasks-file FILE     one task per line (`ID<TAB>prompt`, or just the prompt), or JSON lines
                        {"id", "title", "prompt"}; blank lines and # comments are skipped
  --prompt-file FILE    run this prompt every iteration (default PROMPT.md)

Stopping:
  --max-iterations N    stop after N tasks (default 10; RALPH_MAX_ITERATIONS)
  --completion-promise TEXT
                        stop when a result contains <promise>TEXT</promise>
  A stop request made through router-ext (POST /api/ralph/LOOP_ID/stop, or the dashboard)
  ends the loop after its current task.

Reporting:
  --server URL          router-ext server (ROUTER_EXT_URL, default http://127.0.0.1:4000;
                        grpc://HOST:PORT reports over gRPC)
  --control-url URL     where stop requests are read when --server is grpc:// (the HTTP
                        address; RALPH_CONTROL_URL, default --server)
  --label NAME          label for this loop's metrics (default: this folder's name)
  --loop-id ID          the loop's id (default: ralph-<time>-<pid>)

Claude:
  --claude BIN          the CLI to run (CLAUDE_BIN, default claude)
  --model MODEL         passed as --model
  --output-dir DIR      keep each task's `claude -p` result as DIR/TASK_ID.json
  --dry-run             print what would run; run nothing and report nothing
  -h, --help            this help

Exit status: 0 when every task succeeded, 1 when one failed, 2 on bad usage.
EOF
}

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$SCRIPT_DIR")
SERVER=${ROUTER_EXT_URL:-http://127.0.0.1:4000}
CLAUDE=${CLAUDE_BIN:-claude}
MAX_ITER=${RALPH_MAX_ITERATIONS:-10}
PROMISE=${RALPH_COMPLETION_PROMISE:-}
TASKS_FILE=""
PROMPT_FILE="PROMPT.md"
MODE=""
LABEL=$(basename "$PWD")
LOOP_ID=""
CONTROL=${RALPH_CONTROL_URL:-}
OUTPUT_DIR=""
MODEL=""
DRY_RUN=0
CLAUDE_ARGS=()
if [ -n "${ROUTER_EXT_PYTHON:-}" ]; then PY=$ROUTER_EXT_PYTHON
elif [ -x "$ROOT/.venv/bin/python" ]; then PY="$ROOT/.venv/bin/python"
else PY=python3; fi

need() { [ "$#" -ge 2 ] || { echo "ralph-wiggum.sh: $1 needs a value" >&2; exit 2; }; }
while [ "$#" -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --beads) MODE=beads ;;
    --tasks-file) need "$@"; TASKS_FILE=$2; MODE=file; shift ;;
    --prompt-file) need "$@"; PROMPT_FILE=$2; MODE=prompt; shift ;;
    --max-iterations) need "$@"; MAX_ITER=$2; shift ;;
    --completion-promise) need "$@"; PROMISE=$2; shift ;;
    --server) need "$@"; SERVER=$2; shift ;;
    --control-url) need "$@"; CONTROL=$2; shift ;;
    --output-dir) need "$@"; OUTPUT_DIR=$2; shift ;;
    --label) need "$@"; LABEL=$2; shift ;;
    --loop-id) need "$@"; LOOP_ID=$2; shift ;;
    --claude) need "$@"; CLAUDE=$2; shift ;;
    --model) need "$@"; MODEL=$2; shift ;;
    --dry-run) DRY_RUN=1 ;;
    --) shift; CLAUDE_ARGS+=("$@"); break ;;
    *) echo "ralph-wiggum.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$MAX_ITER" in ''|*[!0-9]*) echo "ralph-wiggum.sh: --max-iterations must be a number" >&2; exit 2 ;; esac
if [ -z "$MODE" ]; then
  if command -v bd >/dev/null 2>&1; then MODE=beads
  elif [ -n "$TASKS_FILE" ]; then MODE=file
  else MODE=prompt; fi
fi
if [ "$MODE" = prompt ] && [ ! -f "$PROMPT_FILE" ]; then
  echo "ralph-wiggum.sh: no tasks: $PROMPT_FILE not found and no --tasks-file or beads" >&2; exit 2
fi
[ -n "$LOOP_ID" ] || LOOP_ID="ralph-$(date +%s)-$$"
[ -n "$MODEL" ] && CLAUDE_ARGS=(--model "$MODEL" "${CLAUDE_ARGS[@]}")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ralph.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# Reporting goes through the retrying client; its failure never stops the loop.
emit_metric() {
  [ "$DRY_RUN" = 1 ] && return 0
  PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m router_ext_client.emit --server "$SERVER" \
    --quiet metric --source ralph --label "$LABEL" --session-id "$LOOP_ID" "$@" \
    >/dev/null 2>>"$WORK/emit.log" || true
}

stop_requested() {
  [ "$DRY_RUN" = 1 ] && return 1
  PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m router_ext_client.emit --server "$SERVER" \
    --quiet stop-requested --loop-id "$LOOP_ID" --control-url "${CONTROL:-$SERVER}" \
    >/dev/null 2>&1
}

# Writes the next task to $WORK/task.{id,title,prompt}; fails when there is none.
next_task() {
  local ready="$WORK/ready.json"
  if [ "$MODE" = beads ]; then bd ready --json >"$ready" 2>/dev/null || return 1; fi
  "$PY" - "$MODE" "$TASKS_FILE" "$PROMPT_FILE" "$1" "$WORK" <<'PYEOF'
import json, os, sys
mode, tasks_file, prompt_file, index, work = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
done_path = os.path.join(work, "attempted")
attempted = set(open(done_path).read().split("\n")) if os.path.exists(done_path) else set()
task = None
if mode == "beads":
    items = json.load(open(os.path.join(work, "ready.json")))
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("id") and item["id"] not in attempted:
            prompt = item.get("title") or item["id"]
            if item.get("description"):
                prompt += "\n\n" + item["description"]
            task = (item["id"], item.get("title") or item["id"], prompt)
            break
elif mode == "file":
    tasks = []
    for n, line in enumerate(open(tasks_file, encoding="utf-8")):
        line = line.rstrip("\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.lstrip().startswith("{"):
            obj = json.loads(line)
            tid = str(obj.get("id") or f"task-{len(tasks) + 1}")
            tasks.append((tid, obj.get("title") or tid, obj.get("prompt") or obj.get("title") or tid))
        elif "\t" in line:
            tid, prompt = line.split("\t", 1)
            tasks.append((tid, prompt.splitlines()[0][:200], prompt))
        else:
            tasks.append((f"task-{len(tasks) + 1}", line[:200], line))
    task = tasks[index] if index < len(tasks) else None
else:
    prompt = open(prompt_file, encoding="utf-8").read()
    task = (f"iteration-{index + 1}", f"{os.path.basename(prompt_file)} iteration {index + 1}", prompt)
if task is None:
    sys.exit(1)
for name, value in zip(("id", "title", "prompt"), task):
    open(os.path.join(work, "task." + name), "w", encoding="utf-8").write(value)
open(done_path, "a").write(task[0] + "\n")
PYEOF
}

# Prints "ok" or "failed", then "promise" when the completion promise is in the result.
judge() {
  "$PY" - "$WORK/out.json" "$1" "$PROMISE" <<'PYEOF'
import json, sys
path, code, promise = sys.argv[1], int(sys.argv[2]), sys.argv[3]
try:
    data = json.load(open(path))
    if isinstance(data, list):
        data = next((x for x in reversed(data) if isinstance(x, dict) and x.get("type") == "result"), {})
except (OSError, ValueError):
    data = {}
ok = code == 0 and isinstance(data, dict) and data.get("type") == "result" and not data.get("is_error")
print("ok" if ok else "failed")
text = data.get("result") if isinstance(data, dict) else None
if promise and isinstance(text, str) and f"<promise>{promise}</promise>" in text:
    print("promise")
PYEOF
}

now_ms() { "$PY" -c 'import time; print(time.time_ns() // 1000000)'; }

COMPLETED=0
FAILED=0
REASON="max_iterations"
echo "ralph: loop $LOOP_ID ($MODE tasks, at most $MAX_ITER) reporting to $SERVER" >&2
emit_metric --event session_started --success true
i=0
while [ "$i" -lt "$MAX_ITER" ]; do
  if stop_requested; then REASON="stop_requested"; echo "ralph: stop requested" >&2; break; fi
  if ! next_task "$i"; then REASON="no_more_tasks"; break; fi
  TASK_ID=$(cat "$WORK/task.id"); TASK_TITLE=$(cat "$WORK/task.title")
  SESSION=$(cat /proc/sys/kernel/random/uuid 2>/dev/null || "$PY" -c 'import uuid; print(uuid.uuid4())')
  i=$((i + 1))
  if [ "$DRY_RUN" = 1 ]; then
    printf 'ralph: would run task %s (%s): %q -p <prompt> --output-format json --session-id %s' \
      "$TASK_ID" "$TASK_TITLE" "$CLAUDE" "$SESSION"
    printf ' %q' "${CLAUDE_ARGS[@]}"; echo
    continue
  fi
  echo "ralph: task $i $TASK_ID: $TASK_TITLE" >&2
  emit_metric --event task_started --task-id "$TASK_ID" --task-title "$TASK_TITLE" \
    --claude-session-id "$SESSION" --completed-tasks "$COMPLETED" --failed-tasks "$FAILED"
  START=$(now_ms)
  "$CLAUDE" -p "$(cat "$WORK/task.prompt")" --output-format json --session-id "$SESSION" \
    "${CLAUDE_ARGS[@]}" >"$WORK/out.json" 2>"$WORK/err.txt" </dev/null
  CODE=$?
  DURATION=$(( $(now_ms) - START ))
  if [ -n "$OUTPUT_DIR" ]; then mkdir -p "$OUTPUT_DIR" && cp "$WORK/out.json" "$OUTPUT_DIR/$TASK_ID.json"; fi
  VERDICT=$(judge "$CODE")
  if [ "${VERDICT%%$'\n'*}" = ok ]; then COMPLETED=$((COMPLETED + 1)); EVENT=task_completed
  else FAILED=$((FAILED + 1)); EVENT=task_failed; fi
  emit_metric --event "$EVENT" --task-id "$TASK_ID" --task-title "$TASK_TITLE" \
    --claude-session-id "$SESSION" --duration-ms "$DURATION" --exit-code "$CODE" \
    --claude-json "$WORK/out.json" --completed-tasks "$COMPLETED" --failed-tasks "$FAILED"
  echo "ralph: $EVENT in ${DURATION} ms (exit $CODE)" >&2
  case "$VERDICT" in *promise*) REASON="completion_promise"; echo "ralph: completion promise seen" >&2; break ;; esac
done
emit_metric --event session_completed --completed-tasks "$COMPLETED" --failed-tasks "$FAILED" \
  --success "$([ "$FAILED" = 0 ] && echo true || echo false)" --field "stop_reason=$REASON"
echo "ralph: done ($REASON): $COMPLETED completed, $FAILED failed" >&2
[ "$FAILED" = 0 ]
