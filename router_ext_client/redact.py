"""Secrets in event text, replaced by a marker that names their kind: `[REDACTED:github-token]`.

One pattern set for every side: the server redacts at ingest, the command hook and every
client's spool before anything is written to disk. Shapes: Anthropic, OpenAI, GitHub, AWS,
Slack and Google keys, JWTs, `Authorization:` and `Bearer` values, private key blocks, and
`NAME=value` where NAME contains TOKEN, SECRET, PASSWORD or KEY (the name is kept). In JSON,
the string value of a field named like a secret (`"password": "..."`) goes too. More patterns
come from a file (ROUTER_EXT_REDACT_PATTERNS: one `KIND REGEX` per line, `#` comments);
ROUTER_EXT_REDACT=0 turns redaction off.

Standard library only, and cheap when there is nothing to find: each shape has substrings one
of which it must contain, checked first, so a regex runs (and is compiled, and `re` imported,
which costs a hook process several ms) only for text that might hold that shape.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # importing typing costs a hook ~5 ms
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# (kind, lowercase substrings one of which a match contains, regex, case-insensitive,
#  must start a word). A `keep` group stays before the marker. Applied in this order, so the
# specific shapes are marked before the generic ones (NAME=value, Authorization) look.
SHAPES: tuple[tuple[str, tuple[str, ...], str, bool, bool], ...] = (
    ("private-key", ("private key",),
     r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----(?:[^\"\\]|\\.)*?(?:-----END[A-Z0-9 ]*PRIVATE "
     r"KEY-----|$|(?=\"))", False, False),
    ("anthropic-key", ("sk-ant-",), r"sk-ant-[A-Za-z0-9_\-]{8,}", False, False),
    ("openai-key", ("sk-",), r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}", False, True),
    ("github-token", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
     r"(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})", False, False),
    ("aws-access-key", ("akia", "asia", "abia", "acca"),
     r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])", False, True),
    ("slack-token", ("xox", "hooks.slack.com"),
     r"(?:xox[abposr]-[A-Za-z0-9\-]{10,}|https://hooks\.slack\.com/services/[A-Za-z0-9/_\-]+)",
     False, False),
    ("google-key", ("aiza", "ya29.", "gocspx-"),
     r"(?:AIza[0-9A-Za-z_\-]{35}|ya29\.[0-9A-Za-z_\-]{20,}|GOCSPX-[A-Za-z0-9_\-]{20,})",
     False, False),
    ("jwt", ("eyj",), r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
     False, False),
    ("authorization", ("authorization",),
     r"(?P<keep>authorization\s*[:=]\s*(?:(?:bearer|basic|token|digest)\s+)?+)"
     r"(?!\[REDACTED)[^\s\"'\\,;]+", True, False),
    ("bearer", ("bearer",), r"(?P<keep>bearer\s+)[A-Za-z0-9._~+/=\-]{8,}", True, False),
    ("named-secret", ("token", "secret", "passw", "key"),
     r"(?P<keep>(?:token|secret|passwd|password|key)[A-Za-z0-9_.\-]*\s*=(?!=)\s*)"
     r"(?!\[REDACTED|\$)(?:\"[^\"\n]*\"|'[^'\n]*'|[^\s\"'\\;&|,)}\]]+)", True, False),
)
# A JSON field whose string value is a secret because of its name.
SECRET_FIELDS = ("token", "secret", "passw", "apikey", "api_key", "api-key", "access_key",
                 "accesskey", "private_key", "privatekey", "authorization", "credential",
                 "cookie")
MARKER = "[REDACTED:"
WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
TRIGGERS = tuple({t for shape in SHAPES for t in shape[1]} | set(SECRET_FIELDS)
                 | {MARKER.lower()})
OFF = ("0", "false", "no", "off")
_DEFAULT: Redactor | None = None
_LOADED = False


def enabled() -> bool:
    """False when ROUTER_EXT_REDACT turns redaction off."""
    return os.environ.get("ROUTER_EXT_REDACT", "1").strip().lower() not in OFF


def load_patterns(path: str) -> list[tuple[str, str]]:
    """(kind, regex) pairs from a patterns file; a line with one field is kind `custom`."""
    found: list[tuple[str, str]] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            kind, _, regex = line.partition(" ")
            if not regex.strip():
                kind, regex = "custom", kind
            kind = "".join(c for c in kind.lower() if c.isalnum() or c == "-") or "custom"
            found.append((kind, regex.strip()))
    return found


class Plan:
    """What one document may hold: the shapes worth running, and whether field names matter."""

    __slots__ = ("active", "fields")

    def __init__(self, active: list[int], fields: bool) -> None:
        self.active = active
        self.fields = fields


class Redactor:
    """The pattern set, compiled shape by shape when first needed.

    :meth:`might_hold` is the cheap test; :meth:`scrub` redacts every string of a JSON value
    (and field names), :meth:`scrub_json` JSON text. Counts per kind go into a dict.
    """

    def __init__(self, extra: list[tuple[str, str]] | tuple[()] = ()) -> None:
        # Custom patterns have no known substrings: they always run.
        self.shapes = [*SHAPES, *((kind, (), regex, False, False) for kind, regex in extra)]
        self._compiled: dict[int, Any] = {}
        self._names: Any = None
        self.custom = bool(extra)
        # Whether lowered text holds any of TRIGGERS; the server installs a one-pass search
        # (this module is standard library only), the same test in a sixth of the time.
        self.any_trigger: Callable[[str], bool] = _any_trigger
        if extra:
            for index in range(len(SHAPES), len(self.shapes)):
                self._regex(index)  # a bad pattern fails now, naming itself

    def might_hold(self, text: str) -> bool:
        """Whether `text` may hold a secret or a marker (substrings only, no regex)."""
        if self.custom:
            return True
        return self.any_trigger(text.lower())

    def plan(self, text: str) -> Plan | None:
        """What to look for in a document, from its text; None when there is nothing."""
        lowered = text.lower()
        if not self.custom and not self.any_trigger(lowered):
            return None
        active = [i for i, shape in enumerate(self.shapes)
                  if (not shape[1] or any(t in lowered for t in shape[1]))
                  and (shape[0] != "named-secret" or "=" in text)]
        fields = any(word in lowered for word in SECRET_FIELDS)
        if not active and not fields and MARKER not in text:
            return None
        return Plan(active, fields)

    def scrub(self, value: Any, counts: dict[str, int], plan: Plan | None = None) -> Any:
        """`value` with every string redacted (field names too); kinds counted into `counts`.

        `plan` (from :meth:`plan` on the whole document) narrows what is looked for.
        """
        if isinstance(value, str):
            return self.text(value, counts, plan)
        if isinstance(value, list):
            return [self.scrub(item, counts, plan) for item in value]
        if isinstance(value, dict):
            return {self.text(str(k), counts, plan): self._field(str(k), v, counts, plan)
                    for k, v in value.items()}
        return value

    def scrub_json(self, text: str, counts: dict[str, int],
                   dumps: Callable[[Any], str] | None = None) -> str:
        """JSON text with its strings redacted, re-encoded by `dumps` (compact ASCII JSON by
        default) only when something was found; text that is not JSON is redacted as text."""
        plan = self.plan(text)
        if plan is None:
            return text
        from router_ext_client.spool import loads

        try:
            value = loads(text)
        except ValueError:
            return self.text(text, counts, plan)
        found: dict[str, int] = {}
        scrubbed = self.scrub(value, found, plan)
        for kind, n in found.items():
            counts[kind] = counts.get(kind, 0) + n
        if scrubbed == value:
            return text  # only markers already there: keep the text as it was
        return (dumps or _dumps)(scrubbed)

    def text(self, text: str, counts: dict[str, int], plan: Plan | None = None) -> str:
        """One string with every secret replaced by its marker."""
        if MARKER in text:
            counts_marked(text, counts)
        lowered = text.lower()
        for index in range(len(self.shapes)) if plan is None else plan.active:
            triggers = self.shapes[index][1]
            if triggers and not any(t in lowered for t in triggers):
                continue
            text = self._regex(index).sub(
                lambda m, i=index: self._replace(m, i, counts), text)
        return text

    def _field(self, key: str, value: Any, counts: dict[str, int], plan: Plan | None) -> Any:
        if (plan is None or plan.fields) and isinstance(value, str) and value \
                and not value.startswith(MARKER) and self._secret_name(key.lower()):
            counts["secret-field"] = counts.get("secret-field", 0) + 1
            return "[REDACTED:secret-field]"
        return self.scrub(value, counts, plan)

    def _secret_name(self, lowered: str) -> bool:
        if self._names is None:
            import re

            self._names = re.compile("|".join(SECRET_FIELDS))
        return self._names.search(lowered) is not None

    def _regex(self, index: int) -> Any:
        compiled = self._compiled.get(index)
        if compiled is None:
            import re

            _, _, regex, caseless, _ = self.shapes[index]
            compiled = re.compile(regex, re.IGNORECASE if caseless else 0)
            self._compiled[index] = compiled
        return compiled

    def _replace(self, match: Any, index: int, counts: dict[str, int]) -> str:
        kind, _, _, _, word_start = self.shapes[index]
        start = match.start()
        if word_start and start and match.string[start - 1] in WORD:
            return str(match.group(0))  # inside a longer word (task-..., a path): not a key
        keep = match.groupdict().get("keep") or ""
        counts[kind] = counts.get(kind, 0) + 1
        return f"{keep}[REDACTED:{kind}]"


def _any_trigger(lowered: str) -> bool:
    return any(t in lowered for t in TRIGGERS)


def counts_marked(text: str, counts: dict[str, int]) -> None:
    """Count the markers a client already put in `text` (they arrive redacted)."""
    for part in text.split(MARKER)[1:]:
        kind, sep, _ = part.partition("]")
        if sep and kind and len(kind) < 40:
            counts[kind] = counts.get(kind, 0) + 1


def _dumps(value: Any) -> str:
    from router_ext_client.spool import dumps

    return dumps(value)


def default() -> Redactor | None:
    """The process-wide redactor from the environment; None when redaction is off."""
    global _DEFAULT, _LOADED
    if not _LOADED:
        _LOADED = True
        if enabled():
            path = os.environ.get("ROUTER_EXT_REDACT_PATTERNS", "")
            _DEFAULT = Redactor(load_patterns(path) if path else ())
    return _DEFAULT


def scrub_parsed(text: str, value: Any) -> Any:
    """`value`, decoded from `text`, redacted by the environment's redactor.

    The text only decides whether to look, so nothing is encoded or decoded twice; when it
    holds nothing that may match, no regex is compiled and `re` is not imported.
    """
    redactor = default()
    if redactor is None:
        return value
    plan = redactor.plan(text)
    return value if plan is None else redactor.scrub(value, {}, plan)


def scrub_line(line: bytes) -> bytes:
    """A JSON line (as the spool writes them) redacted by the environment's redactor."""
    redactor = default()
    if redactor is None:
        return line
    text = line.decode("utf-8")
    out = redactor.scrub_json(text.rstrip("\n"), {})
    return line if out == text.rstrip("\n") else (out + "\n").encode("utf-8")
