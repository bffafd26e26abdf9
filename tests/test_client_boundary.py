"""The reporting client imports nothing of the server, and its hook path nothing outside stdlib."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support import ROOT

PROBE = """
import json, sys
before = set(sys.modules)
import {modules}
loaded = sorted(set(sys.modules) - before)
print(json.dumps(loaded))
"""
SERVER_OR_THIRD_PARTY = ("router_ext.", "starlette", "sqlalchemy", "sqlmodel", "grpc",
                         "google", "tenacity", "prometheus_client", "uvicorn")


def loaded_by(*modules: str) -> list[str]:
    code = PROBE.format(modules=", ".join(modules))
    proc = subprocess.run([sys.executable, "-S", "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=True)
    return json.loads(proc.stdout)


def test_the_hook_path_loads_only_the_standard_library_and_the_client() -> None:
    loaded = loaded_by("hooks.entry", "router_ext_client.client", "router_ext_client.spool")
    assert [m for m in loaded if m.startswith(SERVER_OR_THIRD_PARTY)] == []
    assert "router_ext_client.client" in loaded


def test_no_client_module_imports_the_server() -> None:
    loaded = loaded_by("router_ext_client.client", "router_ext_client.emit",
                       "router_ext_client.usage", "router_ext_client.retry",
                       "router_ext_client.environment", "hooks.gate", "hooks.transcript_tail")
    assert [m for m in loaded if m == "router_ext" or m.startswith("router_ext.")] == []
