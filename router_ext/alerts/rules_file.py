"""Alert rules kept in a file (ROUTER_EXT_ALERT_RULES_FILE), for rules under version control.

JSON `{"rules": [{...}, ...]}` or TOML with `[[rules]]` tables, each rule in the form the API
takes (router_ext/alerts/rules.py). Read once at start; a file that cannot be used stops the
server with one line naming the variable, before anything is served.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from router_ext.alerts.rules import Rule, parse_rule
from router_ext.errors import InvalidInput
from router_ext.settings import SettingError

VARIABLE = "ROUTER_EXT_ALERT_RULES_FILE"


def load_rules_file(path: str) -> list[Rule]:
    """The file's rules, validated; SettingError saying what is wrong and where."""
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
        data = tomllib.loads(text) if file.suffix == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:  # tomllib.TOMLDecodeError is a ValueError
        raise SettingError(f"{VARIABLE}: cannot read {file}: {exc}") from exc
    rules = data.get("rules") if isinstance(data, dict) else None
    if not isinstance(rules, list):
        raise SettingError(f"{VARIABLE}: {file} must hold a list named 'rules'")
    parsed = []
    for n, body in enumerate(rules):
        try:
            parsed.append(parse_rule(body, origin="file"))
        except InvalidInput as exc:
            raise SettingError(f"{VARIABLE}: {file}, rule {n + 1}: {exc.message}") from exc
    names = [r.name for r in parsed]
    if len(set(names)) != len(names):
        raise SettingError(f"{VARIABLE}: {file} names a rule twice")
    return parsed
