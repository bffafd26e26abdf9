"""The alert evaluator: checks every rule, keeps episodes, and tells webhooks, Prometheus, the
dashboard (through the episodes it stores) and, for budgets that say so, running Ralph loops.

Rules are checked every ROUTER_EXT_ALERT_INTERVAL_SECONDS, and within about a second of a commit
that changed usage or finished a Ralph task (the writer listener only marks the rules due; the
checks run on the reader pool). A subject over a rule's threshold opens one episode, which
notifies once; the episode resolves, and notifies once more, when the subject is no longer over
it; a new episode for the same subject waits out the rule's cooldown. Open episodes and recent
resolutions are read back at start, so a restart neither fires again nor forgets a cooldown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC
from functools import partial
from typing import TYPE_CHECKING, Any

import httpx

from router_ext.alerts import store
from router_ext.alerts.evaluate import Breach, Moment, check, spool_report
from router_ext.alerts.metrics import AlertGauges, AlertMetrics
from router_ext.alerts.ralph import request_stops
from router_ext.alerts.rules import Rule
from router_ext.alerts.rules_file import load_rules_file
from router_ext.alerts.webhook import Outcome, Policy, deliver, signed_request
from router_ext.metrics.labels import METRIC_EVENTS
from router_ext.reports.entries import resolve_tz
from router_ext.settings import SettingError
from router_ext.store.writer import Committed

if TYPE_CHECKING:
    from router_ext.runtime import RouterExt

log = logging.getLogger(__name__)
DEBOUNCE_SECONDS = 0.5
MAX_DELIVERIES = 1000  # deliveries in flight; past it new ones are dropped and counted failed
MAX_HOSTS = 10_000
COOLDOWN_MEMORY_MS = 30 * 86_400_000
DUE_EVENTS = frozenset({"task_completed", "task_failed", "PostToolUseFailure"})
Key = tuple[int, str]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class AlertService:
    """One per server; :meth:`on_commit` is a writer listener, :meth:`start`/:meth:`stop`
    run the periodic checks."""

    def __init__(self, core: RouterExt) -> None:
        self.core = core
        settings = core.settings
        try:
            self.tz = resolve_tz(settings.alert_timezone) or UTC
        except ValueError as exc:
            raise SettingError(f"ROUTER_EXT_ALERT_TIMEZONE: {exc}") from exc
        if settings.alert_webhooks and not settings.alert_webhook_secret:
            raise SettingError("ROUTER_EXT_ALERT_WEBHOOKS is set but "
                               "ROUTER_EXT_ALERT_WEBHOOK_SECRET is empty: webhooks are signed")
        self.file_rules = (load_rules_file(settings.alert_rules_file)
                           if settings.alert_rules_file else None)
        self.policy = Policy(settings.alert_webhook_attempts,
                             settings.alert_webhook_deadline_seconds,
                             settings.alert_webhook_timeout_seconds)
        self.metrics = AlertMetrics(core.registry)
        self.spool: dict[str, tuple[int, int]] = {}  # host -> (report time, bytes)
        core.registry.register(AlertGauges(core.reader_engine, self.spool_bytes))
        self.rules: list[Rule] = []
        self.open: dict[Key, dict[str, Any]] = {}
        self.resolved_at: dict[Key, int] = {}
        self._due = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Load rules (syncing the file's), open episodes and cooldowns; begin checking."""
        now = _now_ms()
        if self.file_rules is not None:
            rules = self.file_rules
            await self.core.writer.run(lambda conn: store.sync_file_rules(conn, rules, now))
        await self.reload_rules()
        firing = await self.read(lambda c: store.episodes(c, status="firing", limit=10_000))
        for episode in firing:
            self.open[(episode["rule_id"], episode["subject"])] = episode
        self.resolved_at = await self.read(
            lambda c: store.last_resolved(c, now - COOLDOWN_MEMORY_MS))
        self._set_firing()
        self._client = httpx.AsyncClient(timeout=self.policy.timeout, follow_redirects=False)
        self._task = asyncio.create_task(self._loop(), name="router-ext-alerts")

    async def stop(self) -> None:
        """Stop checking; deliveries still in flight are abandoned."""
        for task in [self._task, *self._deliveries]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._client is not None:
            await self._client.aclose()

    async def read(self, fn: Any) -> Any:
        """fn(connection) on the reader pool."""

        def run() -> Any:
            with self.core.reader.engine.connect() as conn:
                return fn(conn)

        return await self.core.reader.call(run)

    async def reload_rules(self) -> list[Rule]:
        """Read the rules again (after the API changed them)."""
        self.rules = await self.read(store.load_rules)
        return self.rules

    # -- after each commit --------------------------------------------------------------------

    def on_commit(self, batch: Committed) -> None:
        """Note hosts' spool reports; mark the rules due when usage or a Ralph task changed."""
        due = bool(batch.notes and batch.notes.increments)
        for event in batch.events:
            row = event.row
            if event.kind != "event":
                continue
            due = due or row["hook_event_type"] in DUE_EVENTS
            host = row.get("host")
            if host:
                self._spool_seen(str(host), row)
        if due:
            self._due.set()

    def _spool_seen(self, host: str, row: dict[str, Any]) -> None:
        # A spooled event carries the spool size of when it was first sent and arrives late:
        # only the newest report of a host counts. No report means an empty spool.
        metric = row["hook_event_type"] in METRIC_EVENTS
        size = spool_report({"payload": row.get("payload")} if metric
                            else {"extra": row.get("extra")}) or 0
        at = int(row["timestamp"])
        known = self.spool.get(host)
        if known is None and len(self.spool) >= MAX_HOSTS:
            return
        if known is None or at >= known[0]:
            self.spool[host] = (at, size)

    def spool_bytes(self) -> dict[str, int]:
        """Each host's last reported spool size."""
        return {host: size for host, (_, size) in self.spool.items()}

    # -- checking -----------------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            try:
                async with asyncio.timeout(self.core.settings.alert_interval_seconds):
                    await self._due.wait()
            except TimeoutError:
                pass
            else:
                await asyncio.sleep(DEBOUNCE_SECONDS)  # one check for a burst of commits
            self._due.clear()
            try:
                await self.evaluate()
            except Exception:
                log.exception("alert check failed")

    def _check_all(self, rules: list[Rule], moment: Moment) -> dict[int, dict[str, Breach]]:
        found: dict[int, dict[str, Breach]] = {}
        with self.core.reader.engine.connect() as conn:
            for rule in rules:
                try:
                    found[int(rule.id or 0)] = check(conn, rule, moment)
                except Exception:  # one bad rule must not hide the others' alerts
                    log.exception("alert rule %r could not be checked", rule.name)
        return found

    async def evaluate(self, now_ms: int | None = None) -> dict[str, list[dict[str, Any]]]:
        """Check every enabled rule now; returns the episodes opened and resolved."""
        async with self._lock:
            now = now_ms if now_ms is not None else _now_ms()
            rules = [r for r in self.rules if r.enabled]
            moment = Moment(now, self.tz, self.spool_bytes())
            found = await self.core.reader.call(self._check_all, rules, moment)
            fired, resolved = [], []
            for rule in rules:
                if rule.id in found:
                    fired += await self._fire(rule, found[int(rule.id or 0)], now)
            live = {int(r.id or 0) for r in rules}
            for key, episode in list(self.open.items()):
                breaches = found.get(key[0])
                gone = key[0] not in live
                if gone or (breaches is not None and key[1] not in breaches):
                    resolved.append(await self._resolve(key, episode, now))
            self._set_firing()
            return {"fired": fired, "resolved": resolved}

    async def _fire(self, rule: Rule, breaches: dict[str, Breach],
                    now: int) -> list[dict[str, Any]]:
        fired = []
        for subject, breach in breaches.items():
            key = (int(rule.id or 0), subject)
            cooling = now - self.resolved_at.get(key, -10**15) < rule.cooldown_seconds * 1000
            if key in self.open or cooling:
                continue
            episode = {"rule_id": key[0], "rule_name": rule.name, "kind": rule.kind,
                       "subject": subject, "status": "firing", "value": breach.value,
                       "threshold": rule.threshold, "message": breach.message,
                       "started_at": now, "resolved_at": None}
            episode["id"] = await self.core.writer.run(partial(store.open_episode,
                                                               episode=dict(episode)))
            self.open[key] = episode
            self.metrics.episodes.labels(self.metrics.label(rule.name), rule.kind).inc()
            log.warning("alert %s: %s", rule.name, breach.message)
            if rule.stop_ralph:
                episode["stopped_loops"] = await request_stops(self.core, rule, subject,
                                                               breach.message)
            self._notify("alert.firing", rule, episode)
            fired.append(episode)
        return fired

    async def _resolve(self, key: Key, episode: dict[str, Any], now: int) -> dict[str, Any]:
        await self.core.writer.run(lambda c: store.resolve_episode(c, episode["id"], now))
        del self.open[key]
        self.resolved_at[key] = now
        episode = {**episode, "status": "resolved", "resolved_at": now}
        rule = next((r for r in self.rules if r.id == key[0]), None)
        log.info("alert %s resolved: %s", episode["rule_name"], episode["subject"])
        self._notify("alert.resolved", rule, episode)
        return episode

    def _set_firing(self) -> None:
        counts: dict[tuple[str, str], int] = {}
        for rule in self.rules:
            counts[(self.metrics.label(rule.name), rule.kind)] = 0
        for episode in self.open.values():
            label = (self.metrics.label(episode["rule_name"]), episode["kind"])
            counts[label] = counts.get(label, 0) + 1
        for (name, kind), n in counts.items():
            self.metrics.firing.labels(name, kind).set(n)

    # -- webhooks -----------------------------------------------------------------------------

    def _notify(self, event: str, rule: Rule | None, episode: dict[str, Any]) -> None:
        urls = [*self.core.settings.alert_webhooks, *(rule.webhooks if rule else [])]
        secret = self.core.settings.alert_webhook_secret
        if not urls or self._client is None or not secret:
            return
        payload = {"event": event, "episode": episode,
                   "rule": rule.to_json() if rule else {"name": episode["rule_name"]},
                   "sent_at": _now_ms()}
        body, headers = signed_request(secret, event, payload)
        for url in dict.fromkeys(urls):
            if len(self._deliveries) >= MAX_DELIVERIES:
                log.error("alert webhook to %s dropped: %d deliveries in flight", url,
                          len(self._deliveries))
                self.metrics.deliveries.labels("failed").inc()
                continue
            task = asyncio.create_task(self._deliver(url, body, headers))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        assert self._client is not None
        outcome: Outcome = await deliver(self._client, url, body, headers, self.policy)
        self.metrics.deliveries.labels("delivered" if outcome.delivered else "failed").inc()
        if not outcome.delivered:
            log.error("alert webhook to %s failed after %d attempt(s): %s", url,
                      outcome.attempts, outcome.error)
