"""The telemetry environment `router-ext hooks install --otel` writes into Claude Code settings.

Claude Code reads an `env` object from its settings and exports its own OpenTelemetry logs
and metrics when told to: no hook process and nothing to install beyond these variables. The
endpoint is router-ext's gRPC port (4317, OTLP's gRPC default) or, for `http/protobuf` and
`http/json`, the server's HTTP URL (which serves /v1/logs and /v1/metrics).

Claude Code (2.1.328) ignores the exporter variables in a project's settings ("project-scoped
settings can't set this key"), so they always go to the user's settings (or managed settings,
by hand). A project's settings get only OTEL_RESOURCE_ATTRIBUTES naming the project, which
Claude Code does take from there, since OTLP records carry no working directory.
ROUTER_EXT_OTEL marks the variables as router-ext's, so uninstall removes only them.
"""

from __future__ import annotations

import argparse
import os
from typing import Any
from urllib.parse import quote, urlsplit

MARK = "ROUTER_EXT_OTEL"
PROJECT_ATTRIBUTE = "router_ext.project"
PROTOCOLS = ("grpc", "http/protobuf", "http/json")
GRPC_PORT = 4317
OURS = ("CLAUDE_CODE_ENABLE_TELEMETRY", "OTEL_LOGS_EXPORTER", "OTEL_METRICS_EXPORTER",
        "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_HEADERS", MARK)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The --otel options of `hooks install`."""
    parser.add_argument("--otel", action="store_true",
                        help="also write Claude Code's telemetry settings (env) so it exports "
                             "its own OpenTelemetry logs and metrics to router-ext")
    parser.add_argument("--no-hooks", action="store_true",
                        help="with --otel: write only the telemetry settings, no hooks")
    parser.add_argument("--otel-protocol", choices=PROTOCOLS, default="grpc",
                        help="OTLP protocol Claude Code uses (default grpc)")
    parser.add_argument("--otel-endpoint",
                        help="OTLP endpoint (default: the server's host on 4317 for grpc, "
                             "the server URL for http/*)")


def endpoint(server: str, protocol: str, given: str | None) -> str:
    """Where Claude Code should send its telemetry."""
    if given:
        return given.rstrip("/")
    if protocol != "grpc":
        return server.rstrip("/")
    parts = urlsplit(server)
    host = parts.hostname or "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{GRPC_PORT}"


def exporter_env(args: argparse.Namespace, server: str) -> dict[str, str]:
    """The exporter variables (the token header only when ROUTER_EXT_TOKEN is set)."""
    env = {
        "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": args.otel_protocol,
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint(server, args.otel_protocol, args.otel_endpoint),
        MARK: "1",
    }
    token = os.environ.get("ROUTER_EXT_TOKEN")
    if token:
        env["OTEL_EXPORTER_OTLP_HEADERS"] = f"Authorization=Bearer {token}"
    return env


def project_env(current: dict[str, Any], project: str) -> dict[str, str]:
    """The project's resource attribute, added to what the project's settings already say."""
    attributes = str(current.get("OTEL_RESOURCE_ATTRIBUTES") or "")
    return {"OTEL_RESOURCE_ATTRIBUTES": _with_project(attributes, project), MARK: "1"}


def _items(attributes: str) -> list[str]:
    return [item for item in attributes.split(",")
            if item.strip() and not item.strip().startswith(PROJECT_ATTRIBUTE + "=")]


def _with_project(attributes: str, project: str) -> str:
    # W3C baggage format: values are percent-encoded.
    return ",".join([*_items(attributes), f"{PROJECT_ATTRIBUTE}={quote(project, safe='')}"])


def with_otel(settings: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """Settings with the telemetry variables set (other variables kept)."""
    current = settings.get("env")
    return {**settings, "env": {**(current if isinstance(current, dict) else {}), **env}}


def without_otel(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings without router-ext's telemetry variables (only when it wrote them)."""
    env = settings.get("env")
    if not isinstance(env, dict) or MARK not in env:
        return settings
    kept = {k: v for k, v in env.items() if k not in OURS}
    attributes = ",".join(_items(str(kept.pop("OTEL_RESOURCE_ATTRIBUTES", ""))))
    if attributes:
        kept["OTEL_RESOURCE_ATTRIBUTES"] = attributes
    out = {k: v for k, v in settings.items() if k != "env"}
    if kept:
        out["env"] = kept
    return out
