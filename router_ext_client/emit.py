"""The command-line emitter: report events and harness metrics through the retrying client.

    python -m router_ext_client.emit metric --event task_completed --label mercury --task-id T1 \\
        --duration-ms 1200 --claude-json result.json --exit-code 0
    python -m router_ext_client.emit event --source-app app --session-id S --type Note \\
        --payload '{...}'
    python -m router_ext_client.emit stop-requested --loop-id LOOP  # exit 0 when a stop was asked
    python -m router_ext_client.emit flush                          # replay the spool

Also `router-ext emit ...`. Shell scripts (the Ralph loop) call this instead of curl so every
metric gets an event_uid, retries, and the spool. An event that is spooled is a success (exit 0);
only a body the server refuses as invalid exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from router_ext_client.client import Client
from router_ext_client.config import ClientConfig

if TYPE_CHECKING:
    from router_ext_client.usage import RunResult

TOKEN_MAP = {"input": "input_tokens", "output": "output_tokens",
             "cache_read": "cache_read_input_tokens",
             "cache_creation": "cache_creation_input_tokens"}


def _bool(text: str) -> bool:
    word = text.strip().lower()
    if word in ("1", "true", "yes", "y"):
        return True
    if word in ("0", "false", "no", "n"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _value(text: str) -> Any:
    """A --field value: JSON when it parses (numbers, true, null, objects), else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the emitter's options and subcommands to a parser."""
    parser.add_argument("--server", help="server URL (ROUTER_EXT_URL, default "
                                         "http://127.0.0.1:4000; grpc://HOST:PORT for gRPC)")
    parser.add_argument("--token", help="bearer token (ROUTER_EXT_INGEST_TOKEN, else "
                                        "ROUTER_EXT_TOKEN)")
    parser.add_argument("--spool-dir", help="spool folder (ROUTER_EXT_SPOOL_DIR)")
    parser.add_argument("--deadline", type=float, help="seconds before spooling (default 5)")
    parser.add_argument("--quiet", action="store_true", help="print nothing")
    sub = parser.add_subparsers(dest="emit_command", metavar="KIND", required=True)

    m = sub.add_parser("metric", help="a /metrics/harness body (Ralph, harness API)")
    m.add_argument("--event", required=True, help="session_started, task_started, ...")
    m.add_argument("--source", default="ralph", help="ralph | api | ... (default ralph)")
    for name in ("label", "task-id", "task-title", "session-id", "error", "model", "project",
                 "claude-session-id", "event-uid"):
        m.add_argument(f"--{name}")
    for name in ("duration-ms", "exit-code", "num-turns", "completed-tasks", "failed-tasks"):
        m.add_argument(f"--{name}", type=int)
    m.add_argument("--cost-usd", type=float)
    m.add_argument("--success", type=_bool, help="true or false")
    m.add_argument("--claude-json", metavar="FILE",
                   help="a `claude -p --output-format json` result: adds tokens, cost, turns, "
                        "model, claude_session_id, and success/error when not given")
    m.add_argument("--json-file", metavar="FILE", help="start from this JSON object")
    m.add_argument("--field", action="append", default=[], metavar="KEY=VALUE",
                   help="any other field (VALUE parsed as JSON when it can be)")

    e = sub.add_parser("event", help="a /events body")
    e.add_argument("--source-app", required=True)
    e.add_argument("--session-id", required=True)
    e.add_argument("--type", required=True, dest="event_type", help="hook_event_type")
    e.add_argument("--payload", default="{}", help="a JSON object")
    e.add_argument("--payload-file", metavar="FILE")
    e.add_argument("--model-name")

    s = sub.add_parser("stop-requested", help="exit 0 if the server says the loop must stop")
    s.add_argument("--loop-id", required=True)
    s.add_argument("--control-url", help="the server's HTTP address when --server is grpc://")

    sub.add_parser("flush", help="replay the spool now")


def _load(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def result_fields(result: RunResult) -> dict[str, Any]:
    """Tokens, per-model usage and cost, turns, model and session of a `claude -p` result."""
    usage = result.usage
    out: dict[str, Any] = {
        "tokens": {ours: getattr(usage, theirs) for ours, theirs in TOKEN_MAP.items()}}
    if result.models:  # per model, with the CLI's own cost for each
        out["model_usage"] = {name: u.to_dict() for name, u in result.models.items()}
    optional = {"cost_usd": result.total_cost_usd, "num_turns": result.num_turns,
                "model": result.model, "claude_session_id": result.session_id,
                "claude_duration_ms": result.duration_ms}
    out.update({k: v for k, v in optional.items() if v is not None})
    return out


def add_claude_result(body: dict[str, Any], path: str) -> None:
    """Fill tokens, cost, turns, model and outcome from a `claude -p` result file."""
    from router_ext_client.usage import parse_result

    try:
        with open(path, "rb") as f:
            result = parse_result(f.read())
    except (OSError, ValueError) as exc:
        body.setdefault("error", f"no claude result: {exc}")
        body.setdefault("success", False)
        return
    for key, value in result_fields(result).items():
        body.setdefault(key, value)
    exit_ok = body.get("exit_code") in (None, 0)
    body.setdefault("success", exit_ok and not result.is_error)
    if not body["success"]:
        body.setdefault("error", result.error or f"exit code {body.get('exit_code')}")


def metric_body(args: argparse.Namespace) -> dict[str, Any]:
    """The /metrics/harness body from the options."""
    body: dict[str, Any] = {}
    if args.json_file:
        loaded = _load(args.json_file)
        if not isinstance(loaded, dict):
            raise SystemExit("--json-file must hold a JSON object")
        body.update(loaded)
    for item in args.field:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--field expects KEY=VALUE, got {item!r}")
        body[key] = _value(value)
    for name in ("event", "source", "label", "task_id", "task_title", "session_id", "error",
                 "model", "project", "claude_session_id", "event_uid", "duration_ms",
                 "exit_code", "num_turns", "completed_tasks", "failed_tasks", "cost_usd",
                 "success"):
        value = getattr(args, name)
        if value is not None:
            body[name] = value
    if args.claude_json:
        add_claude_result(body, args.claude_json)
    return body


def event_body(args: argparse.Namespace) -> dict[str, Any]:
    """The /events body from the options."""
    payload = _load(args.payload_file) if args.payload_file else json.loads(args.payload)
    if not isinstance(payload, dict):
        raise SystemExit("the payload must be a JSON object")
    body = {"source_app": args.source_app, "session_id": args.session_id,
            "hook_event_type": args.event_type, "payload": payload}
    if args.model_name:
        body["model_name"] = args.model_name
    return body


def client_for(args: argparse.Namespace) -> Client:
    """A client from the environment and the global options."""
    return Client(ClientConfig.from_env(url=args.server, token=args.token,
                                        spool_dir=args.spool_dir, deadline=args.deadline))


def stop_requested(client: Client, loop_id: str) -> bool:
    """True when the server holds a stop request for the loop (False when unreachable)."""
    from urllib.parse import quote

    try:
        answer = client.get_json(f"/api/ralph/{quote(loop_id, safe='')}/control", timeout=2.0)
    except Exception:
        return False  # an unreachable server never stops a loop
    return bool(isinstance(answer, dict) and answer.get("stop"))


def run(args: argparse.Namespace) -> int:
    """Run one emitter command; see the module docstring for exit codes."""
    client = client_for(args)
    out = sys.stdout
    try:
        if args.emit_command == "stop-requested":
            if args.control_url:
                client = Client(client.config.with_(url=args.control_url))
            return 0 if stop_requested(client, args.loop_id) else 1
        if args.emit_command == "flush":
            result = client.replay()
            if not args.quiet:
                print(json.dumps(result.to_dict()), file=out)
            return 0 if result.remaining == 0 else 1
        body = metric_body(args) if args.emit_command == "metric" else event_body(args)
        outcome = (client.send_metric if args.emit_command == "metric" else client.send_event)(
            body)
    finally:
        client.close()
    if not args.quiet:
        print(json.dumps({"status": outcome.status, "id": outcome.id,
                          "event_uid": body.get("event_uid"), "error": outcome.error or None}),
              file=out)
    return 1 if outcome.status == "rejected" else 0


def main(argv: list[str] | None = None) -> int:
    """`python -m router_ext_client.emit`."""
    parser = argparse.ArgumentParser(prog="router_ext_client.emit",
                                     description=__doc__.splitlines()[0])
    configure(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
