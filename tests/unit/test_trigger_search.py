"""The server's one-pass trigger search answers exactly what the client's substring loop does."""

from __future__ import annotations

import random

from router_ext.ingest.redaction import TriggerSearch
from router_ext_client.redact import TRIGGERS, Redactor


def test_the_one_pass_search_agrees_with_the_substring_loop() -> None:
    rng = random.Random(7)
    search = TriggerSearch()
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


def test_one_search_of_a_batch_flags_exactly_the_texts_that_hold_a_trigger() -> None:
    rng = random.Random(11)
    search = TriggerSearch()
    # "İ" lowers to two characters, so offsets into the joined text must come from the lowered
    # texts; "\0" is the joint and must not hide or invent a match.
    pieces = [*TRIGGERS, "İ", "\0", "KEY", "k", "ey", "to", "ken", "x", " ", "é", "\U0001f600"]
    flagged = 0
    for _ in range(2000):
        texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 5)))
                 for _ in range(rng.randint(0, 8))]
        expected = [search(text.lower()) for text in texts]
        assert search.each(texts) == expected, texts
        flagged += sum(expected)
    assert flagged > 1000


def test_a_batch_is_redacted_exactly_as_its_events_one_by_one() -> None:
    from prometheus_client import CollectorRegistry

    from router_ext.ingest.redaction import Redaction
    from router_ext.settings import Settings

    rng = random.Random(5)
    secret = "ghp_" + "a" * 36
    values = ["ls", f"export GITHUB_TOKEN={secret}", "[redacted:github-token]", "key",
              "İİ", "plain text"]

    def rows() -> list[dict[str, object]]:
        made: list[dict[str, object]] = []
        for n in range(300):
            row: dict[str, object] = {"event_uid": str(n)}
            for column in ("payload", "chat", "extra"):
                if rng.random() < 0.7:
                    row[column] = '{"v":"' + rng.choice(values) + '"}'
            if rng.random() < 0.5:
                row["summary"] = rng.choice(values)
            made.append(row)
        return made

    batch = rows()
    alone = [dict(row) for row in batch]
    together = Redaction(Settings(), CollectorRegistry())
    together.apply(batch)  # type: ignore[arg-type]
    singly = Redaction(Settings(), CollectorRegistry())
    for row in alone:
        singly.apply([row])  # type: ignore[list-item]
    assert batch == alone

    def totals(redaction: Redaction) -> dict[str, float]:
        return {s.labels["kind"]: s.value for m in redaction.counter.collect()
                for s in m.samples if s.name.endswith("_total")}

    assert totals(together) == totals(singly) and sum(totals(together).values()) > 0
    assert sum(secret in str(row) for row in alone) == 0
    assert any("[redacted:" in str(row) for row in alone)
