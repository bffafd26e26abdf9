"""docs/configuration.md is generated from the settings code, and lists every variable read."""

from __future__ import annotations

import re
import subprocess
import sys

from router_ext.commands.config import END, START, current, markdown
from router_ext.settings import Settings
from tests.support import ROOT

DOC = ROOT / "docs" / "configuration.md"
# Variables of the platform, not of router-ext.
NOT_OURS = {"ROUTER_EXT_REQUIRE_ALL"}
# A variable is named in a string, a shell expansion or a docstring's backticks; a Python
# constant such as RALPH_CONTROL is not.
VARIABLE = re.compile(r"(?<=[\"'`{$])(ROUTER_EXT_[A-Z0-9_]+|HARNESS_[A-Z0-9_]+|RALPH_[A-Z0-9_]+"
                      r"|DATABASE_URL|CLAUDE_BIN)\b")


def test_the_table_in_the_docs_is_the_generated_one() -> None:
    text = DOC.read_text(encoding="utf-8")
    between = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert between == markdown(), "run `make docs` to regenerate docs/configuration.md"


def test_every_variable_the_code_reads_is_documented() -> None:
    sources = [p for folder in ("router_ext", "router_ext_client", "harness", "hooks", "scripts")
               for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".sh")]
    read = {m for p in sources for m in VARIABLE.findall(p.read_text(encoding="utf-8"))}
    documented = set(VARIABLE.findall(markdown()))
    assert read - NOT_OURS - documented == set()
    assert len(read) >= 40  # the scan itself found what it should


def test_settings_come_from_the_environment_and_bad_numbers_are_named() -> None:
    env = {"ROUTER_EXT_HTTP_PORT": "4100", "ROUTER_EXT_CORS_ORIGINS": "http://a, http://b",
           "ROUTER_EXT_GRPC_REFLECTION": "off", "ROUTER_EXT_SQLITE_SYNCHRONOUS": "full",
           "ROUTER_EXT_TOKEN": "s3cret", "ROUTER_EXT_HOST": ""}
    settings = Settings.from_env(env)
    assert settings.http_port == 4100 and settings.host == "127.0.0.1"
    assert settings.cors_origins == ("http://a", "http://b")
    assert settings.grpc_reflection is False and settings.sqlite_synchronous == "FULL"
    shown = current(settings)
    assert "ROUTER_EXT_TOKEN=***" in shown and "s3cret" not in shown
    proc = subprocess.run([sys.executable, "-m", "router_ext.cli", "config"], cwd=ROOT,
                          env={"ROUTER_EXT_HTTP_PORT": "many", "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1] == \
        "router-ext: ROUTER_EXT_HTTP_PORT must be an integer, got 'many'"
