"""Run HTTP (uvicorn) and gRPC in one process and one event loop."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import errno
import gc
import logging
import socket
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from router_ext import logs
from router_ext.access import Access
from router_ext.runtime import RouterExt
from router_ext.settings import Settings
from router_ext.store import schema
from router_ext.store.db import make_engine, ping
from router_ext.web.app import create_app
from router_ext.web.otlp import OtlpPortGate
from router_ext.web.security.protocol import guarded_protocol
from router_ext.web.ws_frames import protocol_for

log = logging.getLogger(__name__)
M_ARENA_MAX = -8  # mallopt parameter number in glibc's malloc.h
HOST_SETTING = "ROUTER_EXT_HOST or --host"
DATABASE_SETTING = "DATABASE_URL or --database-url"
BACKENDS = ("sqlite", "postgres", "postgresql")
YOUNG_COLLECTION_THRESHOLD = 20_000  # see freeze_startup_heap
SWITCH_INTERVAL_SECONDS = 0.001  # see share_the_interpreter_lock


class StartupError(Exception):
    """The server cannot start; the message names the problem and the setting that fixes it."""


def _reason(exc: BaseException) -> str:
    """An error's first line, as it reads inside parentheses."""
    text = (getattr(exc, "strerror", None) or str(getattr(exc, "orig", None) or exc)).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first[:1].lower() + first[1:]


def _listen_error(what: str, host: str, port: int, setting: str, exc: OSError) -> StartupError:
    if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
        setting = HOST_SETTING  # the address, not the port, is what is wrong
    shown = f"[{host}]" if ":" in host else host
    return StartupError(f"cannot listen for {what} on {shown}:{port} ({_reason(exc)}); "
                        f"set {setting}")


def bind_http(host: str, port: int) -> socket.socket:
    """Bind the HTTP socket ourselves so port 0 resolves before anything is printed."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only when it
    # is, and without it every keep-alive response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server, except that a signal-initiated graceful shutdown exits with status 0.

    uvicorn re-raises the captured SIGTERM after shutting down, which makes a clean, fully
    drained stop look like a crash to supervisors and scripts.
    """

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._captured_signals.clear()


def freeze_startup_heap() -> None:
    """Move everything allocated so far out of the garbage collector's reach, and collect
    young objects less often.

    Imports and startup leave ~90,000 objects (modules, classes, compiled SQL) that live as
    long as the process. A full collection walked them all: 45-70 ms with the event loop
    stopped, several times a minute under load, which was the p99 of every endpoint (POST
    /events p99 60 ms with it, 12-17 ms without). Frozen objects are never collected, which
    is right for these; everything allocated later is collected as before.
    """
    gc.collect()
    gc.freeze()
    # Collect the young generation every YOUNG_COLLECTION_THRESHOLD net allocations instead
    # of CPython's 700. Live streams allocate a future and a few frames per delivery: with a
    # wall of 1,000 viewers the default ran ~45 young, ~4 middle and ~0.4 full collections a
    # second, an eighth of the time, and each full one stopped the loop for 110-150 ms
    # (bench/bench_ws_fanout.py --round wall; docs/benchmarks.md). Garbage that refcounting
    # frees, nearly all of it, is freed at once as before.
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, old)


def share_the_interpreter_lock() -> None:
    """Make a thread holding the interpreter lock offer it after 1 ms instead of CPython's 5.

    The writer's thread runs Python between its SQLite calls (the sessions fold, the counts),
    and the event loop's thread, wanting the lock meanwhile, waited up to the switch interval
    for it. With a wall of 1,000 viewers at 100 events/s, nine rounds in turn with 5 ms: the
    median receipt p99 82 against 94 ms (77-98 against 80-171), the POST itself 44 against
    58 ms. POST /events under wrk, PublishBatch and 100 gRPC subscribers measured the same
    (bench/bench_ws_fanout.py --round wall; docs/benchmarks.md).
    """
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)


def listen_http(settings: Settings) -> socket.socket:
    """The bound HTTP socket, or a StartupError naming the port setting."""
    try:
        return bind_http(settings.host, settings.http_port)
    except OSError as exc:
        raise _listen_error("HTTP", settings.host, settings.http_port,
                            "ROUTER_EXT_HTTP_PORT or --http-port", exc) from None


def check_grpc_port(settings: Settings) -> None:
    """Bind and release the gRPC port, so a taken one is reported before anything starts.

    gRPC itself binds later, inside the app's startup, where a failure is a traceback.
    """
    if settings.grpc_port == 0:
        return
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC binds
            probe.bind((settings.host, settings.grpc_port))
    except OSError as exc:
        raise _listen_error("gRPC", settings.host, settings.grpc_port,
                            "ROUTER_EXT_GRPC_PORT or --grpc-port", exc) from None


def check_database(settings: Settings) -> None:
    """Open the database once: a bad URL, a missing driver or an unwritable folder is one line."""
    url = settings.database_url
    try:
        parsed = make_url(url)
    except ArgumentError:
        parsed = None
    if parsed is None or parsed.get_backend_name() not in BACKENDS:
        scheme = url.split("://", 1)[0] if "://" in url else "no scheme"  # never echo a password
        raise StartupError(f"unsupported database URL ({scheme}): use sqlite:///PATH or "
                           f"postgresql://USER@HOST/DB; set {DATABASE_SETTING}")
    try:
        engine = make_engine(settings, writer=True)
    except ImportError as exc:
        raise StartupError(f"no database driver for {parsed.get_backend_name()} ({exc.name} is not "
                           f"installed: pip install 'router-ext[postgres]'); "
                           f"set {DATABASE_SETTING}") from None
    except OSError as exc:  # the SQLite file or its folder cannot be created
        where = Path(str(exc.filename))
        if where == settings.sqlite_path():
            what = f"the database {where} ({_reason(exc)}); its folder {where.parent.resolve()} " \
                   f"must be writable"
        else:
            what = f"the database folder {where} ({_reason(exc)})"
        raise StartupError(f"cannot create {what}; set {DATABASE_SETTING}") from None
    try:
        ping(engine)
    except SQLAlchemyError as exc:
        path = settings.sqlite_path()
        if path is None:
            shown, why = parsed.render_as_string(hide_password=True), _reason(exc)
        else:  # SQLite creates the file and its journal beside it
            shown = str(path)
            why = f"{_reason(exc)}; its folder {path.parent.resolve()} must be writable"
        raise StartupError(f"cannot open the database {shown} ({why}); "
                           f"set {DATABASE_SETTING}") from None
    finally:
        engine.dispose()


def _announce(host: str, http_port: int, grpc_port: int) -> None:
    freeze_startup_heap()  # startup is complete: what exists now lives as long as we do
    share_the_interpreter_lock()
    # The first line is machine-readable: tests and scripts parse it to find the ports.
    print(f"http={host}:{http_port} grpc={host}:{grpc_port}", flush=True)
    log.info("router-ext listening: dashboard http://%s:%d/ gRPC %s:%d", host, http_port, host,
             grpc_port)


def bind_otlp(host: str, port: int) -> socket.socket | None:
    """The OTLP/HTTP listener's socket; None when it is off or its port is taken.

    The port is a convenience (the HTTP port serves OTLP too), and 4318 is often held by an
    OpenTelemetry Collector already, so a taken port is reported and the server runs on.
    """
    if port <= 0:
        return None
    try:
        return bind_http(host, port)
    except OSError as exc:
        log.warning("OTLP/HTTP port %s:%d not available (%s); OTLP/HTTP is still served on "
                    "the HTTP port", host, port, exc)
        return None


async def serve(settings: Settings) -> None:
    """Serve until SIGINT or SIGTERM, then shut down gracefully (drain, end streams).

    Raises StartupError, before anything is served, when a port is taken or the database
    cannot be opened.
    """
    sock = listen_http(settings)
    try:
        check_grpc_port(settings)
        check_database(settings)
        check_schema(settings)  # a newer database than this code is refused here
    except StartupError:
        sock.close()
        raise
    settings = settings.with_(http_port=sock.getsockname()[1])
    sockets = [sock]
    core = RouterExt(settings)
    app: Any = create_app(core, grpc_port=settings.grpc_port, on_ready=_announce)
    otlp_sock = bind_otlp(settings.host, settings.otlp_http_port)
    if otlp_sock is not None:
        # One uvicorn server on both sockets: one lifespan, one graceful shutdown.
        sockets.append(otlp_sock)
        app = OtlpPortGate(app, otlp_sock.getsockname()[1])
        log.info("OTLP/HTTP listening on %s:%d", settings.host, otlp_sock.getsockname()[1])
    ws_protocol, deflate = protocol_for(settings.ws_compression)
    config = uvicorn.Config(  # httptools, with read timeouts and a connection cap
        app, lifespan="on", loop="asyncio", http=guarded_protocol(Access.of(core)),
        ws=ws_protocol, ws_per_message_deflate=deflate,
        ws_max_size=settings.max_body_bytes, log_level="warning", access_log=False,
        log_config=None,  # uvicorn's records go through our handler (text or JSON lines)
        timeout_graceful_shutdown=5, timeout_keep_alive=30,
    )
    server = _Server(config)
    await server.serve(sockets=sockets)
    if not server.started:
        raise SystemExit(1)


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's malloc arenas (no-op elsewhere).

    glibc gives busy threads their own arenas; with gRPC's, the writer's and the readers'
    threads that fragments into tens of MB of RSS that is never returned to the system.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(M_ARENA_MAX, arenas)
    except (OSError, AttributeError):
        pass


def check_schema(settings: Settings) -> None:
    """Upgrade the schema when allowed; a StartupError when this version cannot use it."""
    engine = make_engine(settings, writer=True)
    try:
        schema.check(engine, auto_upgrade=settings.db_auto_upgrade)
    except schema.SchemaError as exc:
        raise StartupError(exc.message) from None
    finally:
        engine.dispose()


def run(settings: Settings) -> None:
    """Blocking entry point for the CLI."""
    limit_malloc_arenas()
    logs.configure(settings.log_format, settings.log_level)
    asyncio.run(serve(settings))
