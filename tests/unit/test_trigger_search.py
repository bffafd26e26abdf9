"""The server's one-pass trigger search answers exactly what the client's substring loop does."""

from __future__ import annotations

import random

from router_ext.ingest.redaction import trigger_search
from router_ext_client.redact import TRIGGERS, Redactor


def test_the_one_pass_search_agrees_with_the_substring_loop() -> None:
    rng = random.Random(7)
    search = trigger_search()
    loop = Redactor().any_trigger  # the client's own: one substring search per trigger
    pieces = [*TRIGGERS, "ke", "y", "tok", "en", "é", "✓", "\U0001f600", " ", "_", "-", "a",
              "x" * 50, "sk", "-ant", "[redacted", ":", "GITHUB", "Bearer"]
    found = 0
    for _ in range(5000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 6))).lower()
        expected = loop(text)
        assert search(text) is expected, text
        found += expected
    assert 500 < found < 4500  # both outcomes were tried many times
    for trigger in TRIGGERS:
        assert search(f"abc{trigger}def") and search(trigger)
    assert not search("") and not search("nothing to see here")


def test_a_server_redactor_finds_secrets_with_it() -> None:
    from router_ext.ingest.redaction import build_redactor
    from router_ext.settings import Settings

    redactor = build_redactor(Settings())
    assert redactor is not None and redactor.any_trigger is not Redactor().any_trigger
    counts: dict[str, int] = {}
    out = redactor.scrub_json('{"cmd":"export GITHUB_TOKEN=ghp_' + "a" * 30 + '"}', counts)
    assert "ghp_" not in out and counts
    text = '{"cmd":"ls -la"}'
    assert redactor.scrub_json(text, {}) is text
