"""The reference claude-harness API: OpenAI-compatible chat completions and background jobs.

    POST   /v1/chat/completions   {"model", "messages": [...]}: runs claude -p, answers in the
                                  OpenAI shape with the CLI's real usage and cost
    POST   /v1/jobs               {"prompt", "model"?}: 202 with the queued job
    GET    /v1/jobs               newest first;  GET /v1/jobs/{id};  DELETE /v1/jobs/{id} cancels
    GET    /health

Every request passes through harness.middleware (method, route, status, duration, X-Project,
X-Session-ID) and every job or completion is reported as a harness session with source `api`.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from harness.api.claude_runner import RunnerConfig
from harness.api.jobs import Job, JobStore
from harness.middleware import HarnessMiddleware, Reporter

MAX_BODY = 1024 * 1024
MAX_PROMPT = 200_000


class BadRequest(Exception):
    """A client error, answered 400 with a message naming the field."""

    def __init__(self, detail: str, field: str | None = None, status: int = 400) -> None:
        super().__init__(detail)
        self.detail, self.field, self.status = detail, field, status


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise BadRequest(f"the body is larger than {MAX_BODY} bytes", status=413)
    try:
        body = json.loads(raw or b"null")
    except ValueError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def _text(body: dict[str, Any], name: str, *, required: bool = False) -> str:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise BadRequest(f"'{name}' is required", name)
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"'{name}' must be a string", name)
    if len(value) > MAX_PROMPT:
        raise BadRequest(f"'{name}' is longer than {MAX_PROMPT} characters", name)
    return value


def _content(message: Any, index: int) -> tuple[str, str]:
    if not isinstance(message, dict):
        raise BadRequest(f"messages[{index}] must be an object", f"messages[{index}]")
    role, content = message.get("role"), message.get("content")
    if role not in ("system", "developer", "user", "assistant"):
        raise BadRequest(f"messages[{index}].role must be system, user or assistant",
                         f"messages[{index}].role")
    if isinstance(content, list):  # content parts: keep the text ones
        content = "\n".join(p.get("text", "") for p in content
                            if isinstance(p, dict) and p.get("type") == "text")
    if not isinstance(content, str):
        raise BadRequest(f"messages[{index}].content must be text", f"messages[{index}].content")
    return role, content


def chat_prompt(body: dict[str, Any]) -> str:
    """One prompt from OpenAI messages: a lone user message as is, else a labelled transcript."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty list", "messages")
    if body.get("stream"):
        raise BadRequest("'stream' is not supported; send stream: false", "stream")
    parts = [_content(m, i) for i, m in enumerate(messages)]
    if len(parts) == 1 and parts[0][0] == "user":
        prompt = parts[0][1]
    else:
        prompt = "\n\n".join(f"{role.upper()}: {text}" for role, text in parts)
    if len(prompt) > MAX_PROMPT:
        raise BadRequest(f"the messages are longer than {MAX_PROMPT} characters", "messages")
    return prompt


def completion(job: Job) -> dict[str, Any]:
    """The OpenAI chat.completion object for a finished chat job."""
    data = job.to_dict()
    tokens = data.get("tokens") or {}
    prompt_tokens = sum(tokens.get(k, 0) for k in ("input", "cache_read", "cache_creation"))
    return {
        "id": job.id.replace("chat_", "chatcmpl-", 1), "object": "chat.completion",
        "created": job.created_at // 1000, "model": data.get("model") or job.model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": data.get("result") or ""}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": tokens.get("output", 0),
                  "total_tokens": prompt_tokens + tokens.get("output", 0),
                  "prompt_tokens_details": {"cached_tokens": tokens.get("cache_read", 0)}},
        "cost_usd": data.get("cost_usd"),
        "claude": {k: data.get(k) for k in ("claude_session_id", "num_turns", "duration_ms",
                                            "model_usage", "tokens")},
    }


def create_app(*, runner: RunnerConfig | None = None, reporter: Reporter | None = None,
               require_project: bool = False, max_running: int = 4) -> Starlette:
    """The API app with the middleware installed."""
    reporter = reporter or Reporter()
    store = JobStore(runner or RunnerConfig.from_env(), reporter, max_running)

    def new_job(request: Request, prompt: str, model: str, kind: str) -> Job:
        return store.new(prompt, model=model, kind=kind,
                         project=request.headers.get("x-project"),
                         session=request.headers.get("x-session-id"))

    async def chat(request: Request) -> JSONResponse:
        body = await _json(request)
        prompt = chat_prompt(body)
        job = new_job(request, prompt, _text(body, "model"), "chat")
        await store.run(job)
        if job.status != "completed":
            return JSONResponse({"error": {"type": "claude_error", "message": job.error,
                                           "job": job.to_dict()}}, status_code=502)
        return JSONResponse(completion(job))

    async def create_job(request: Request) -> JSONResponse:
        body = await _json(request)
        job = new_job(request, _text(body, "prompt", required=True), _text(body, "model"), "job")
        store.start(job)
        return JSONResponse(job.to_dict(), status_code=202)

    def find(request: Request) -> Job:
        job = store.jobs.get(request.path_params["job_id"])
        if job is None:
            raise BadRequest(f"no job {request.path_params['job_id']!r}", "id", status=404)
        return job

    async def get_job(request: Request) -> JSONResponse:
        return JSONResponse(find(request).to_dict())

    async def list_jobs(request: Request) -> JSONResponse:
        jobs = [j.to_dict() for j in reversed(store.jobs.values()) if j.kind == "job"]
        return JSONResponse({"object": "list", "data": jobs[:100]})

    async def delete_job(request: Request) -> JSONResponse:
        job = find(request)
        if store.cancel(job) and job.task is not None:
            with contextlib.suppress(BaseException):
                await job.task
        return JSONResponse(job.to_dict())

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "time": time.time()})

    async def bad_request(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, BadRequest)
        return JSONResponse({"error": {"type": "invalid_request_error", "message": exc.detail,
                                       "param": exc.field}}, status_code=exc.status)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await store.shutdown()
        reporter.close(5.0)

    app = Starlette(
        routes=[Route("/v1/chat/completions", chat, methods=["POST"]),
                Route("/v1/jobs", create_job, methods=["POST"]),
                Route("/v1/jobs", list_jobs, methods=["GET"]),
                Route("/v1/jobs/{job_id}", get_job, methods=["GET"]),
                Route("/v1/jobs/{job_id}", delete_job, methods=["DELETE"]),
                Route("/health", health, methods=["GET"])],
        middleware=[Middleware(HarnessMiddleware, reporter=reporter,
                               require_project=require_project, skip_paths=("/health",))],
        exception_handlers={BadRequest: bad_request}, lifespan=lifespan)
    app.state.jobs = store
    app.state.reporter = reporter
    return app
