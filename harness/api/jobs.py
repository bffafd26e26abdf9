"""Jobs: a prompt run by `claude -p` in the background, its state, and its metrics.

Each job reports job_started and then job_completed, job_failed or job_cancelled with the run's
real token usage and cost from the CLI's own result, which router-ext folds into a harness
session with source `api`. At most `max_running` run at once; the rest wait their turn.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from harness.api.claude_runner import RunnerConfig, RunOutcome, run_claude
from harness.middleware import Reporter
from router_ext_client.emit import result_fields

KEEP_JOBS = 1000
ENDS = {"completed": "job_completed", "failed": "job_failed", "cancelled": "job_cancelled"}


def now_ms() -> int:
    """Unix time in milliseconds."""
    return time.time_ns() // 1_000_000


@dataclass
class Job:
    """One job and what became of it."""

    id: str
    prompt: str
    model: str = ""
    project: str | None = None
    session: str | None = None
    kind: str = "job"
    status: str = "queued"  # queued | running | completed | failed | cancelled
    created_at: int = field(default_factory=now_ms)
    started_at: int | None = None
    finished_at: int | None = None
    outcome: RunOutcome | None = None
    error: str | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form returned by the API."""
        out: dict[str, Any] = {
            "id": self.id, "object": "job", "status": self.status, "model": self.model or None,
            "project": self.project, "session_id": self.session, "created_at": self.created_at,
            "started_at": self.started_at, "finished_at": self.finished_at,
            "error": self.error,
        }
        result = self.outcome.result if self.outcome else None
        if self.outcome is not None:
            out.update(exit_code=self.outcome.exit_code, duration_ms=self.outcome.duration_ms,
                       claude_session_id=self.outcome.session_id)
        if result is not None:
            out.update(result=result.result, is_error=result.is_error,
                       **result_fields(result))
        return out

    def metric(self, event: str) -> dict[str, Any]:
        """The /metrics/harness body for one step of this job."""
        body: dict[str, Any] = {"source": "api", "event": event, "task_id": self.id,
                                "task_title": self.prompt[:200], "label": self.kind,
                                "session_id": self.session or self.id}
        if self.project:
            body["project"] = self.project
        if self.model:
            body["model"] = self.model
        if event in ENDS.values():
            body["success"] = self.status == "completed"
            if self.error:
                body["error"] = self.error[:2000]
            if self.started_at is not None and self.finished_at is not None:
                body["duration_ms"] = self.finished_at - self.started_at
        if self.outcome is not None:
            body["exit_code"] = self.outcome.exit_code
            body["claude_session_id"] = self.outcome.session_id
            if self.outcome.result is not None:
                body.update(result_fields(self.outcome.result))
        return body


class JobStore:
    """The jobs of this process, newest last; old finished jobs are forgotten past KEEP_JOBS."""

    def __init__(self, runner: RunnerConfig, reporter: Reporter, max_running: int = 4) -> None:
        self.runner = runner
        self.reporter = reporter
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self._slots = asyncio.Semaphore(max_running)

    def new(self, prompt: str, *, model: str = "", project: str | None = None,
            session: str | None = None, kind: str = "job") -> Job:
        """Register a job (not started)."""
        job = Job(id=f"{kind}_{os.urandom(12).hex()}", prompt=prompt, model=model,
                  project=project, session=session, kind=kind)
        self.jobs[job.id] = job
        while len(self.jobs) > KEEP_JOBS:
            oldest = next(iter(self.jobs.values()))
            if oldest.status in ("queued", "running"):
                break
            self.jobs.popitem(last=False)
        return job

    def start(self, job: Job) -> None:
        """Run the job in the background."""
        job.task = asyncio.get_running_loop().create_task(self.run(job))

    async def run(self, job: Job) -> None:
        """Wait for a slot, run claude, record and report the outcome."""
        try:
            async with self._slots:
                job.status, job.started_at = "running", now_ms()
                self.reporter.metric(job.metric("job_started"))
                outcome = await run_claude(job.prompt, self.runner, model=job.model)
            job.outcome = outcome
            job.status = "completed" if outcome.success else "failed"
            job.error = outcome.error
        except asyncio.CancelledError:
            job.status, job.error = "cancelled", "cancelled by a DELETE request"
        finally:
            job.finished_at = now_ms()
            job.started_at = job.started_at or job.finished_at
            if job.status in ENDS:
                self.reporter.metric(job.metric(ENDS[job.status]))

    def cancel(self, job: Job) -> bool:
        """Cancel a queued or running job; False when it had already finished."""
        if job.status not in ("queued", "running") or job.task is None:
            return False
        job.task.cancel()
        return True

    async def shutdown(self) -> None:
        """Cancel every unfinished job (their processes are killed)."""
        tasks = [j.task for j in self.jobs.values() if j.task and not j.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
