"""Acked means committed: kill -9 mid-ingest and SIGTERM both keep every acknowledged event."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from pathlib import Path

import grpc

from router_ext.v1 import ingest_pb2, stream_pb2, types_pb2
from tests.grpc_helpers import event, stubs
from tests.support import ServerProcess, start_server


class Publishers:
    """Threads publishing batches and streams until the server goes away; records every ack."""

    def __init__(self, server: ServerProcess, batch_threads: int = 2) -> None:
        self.acked: dict[str, int] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.errors: list[grpc.StatusCode] = []
        self.threads = [threading.Thread(target=self._batches, args=(server,), daemon=True)
                        for _ in range(batch_threads)]
        self.threads.append(threading.Thread(target=self._stream, args=(server,), daemon=True))
        for t in self.threads:
            t.start()

    def _record(self, acks: list[ingest_pb2.Ack]) -> None:
        with self.lock:
            for ack in acks:
                if not ack.error:
                    self.acked[ack.event_uid] = ack.id

    def _batches(self, server: ServerProcess) -> None:
        with server.channel() as ch:
            ingest, _, _ = stubs(ch)
            while not self.stop.is_set():
                request = ingest_pb2.PublishBatchRequest(events=[event() for _ in range(100)])
                try:
                    self._record(list(ingest.PublishBatch(request, timeout=10).acks))
                except grpc.RpcError as exc:
                    self.errors.append(exc.code())
                    return

    def _stream(self, server: ServerProcess) -> None:
        def requests() -> object:
            while not self.stop.is_set():
                yield ingest_pb2.PublishRequest(event=event(session_id="streamed"))

        with server.channel() as ch:
            ingest, _, _ = stubs(ch)
            try:
                for ack in ingest.PublishStream(requests(), timeout=30):
                    self._record([ack])
            except grpc.RpcError as exc:
                self.errors.append(exc.code())

    def wait_for(self, count: int, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acked) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.acked) >= count, f"only {len(self.acked)} acks"

    def join(self) -> dict[str, int]:
        self.stop.set()
        for t in self.threads:
            t.join(15)
        with self.lock:
            return dict(self.acked)


def stored(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT event_uid, id FROM events").fetchall()
        total = conn.execute("SELECT count(*), count(DISTINCT event_uid) FROM events").fetchone()
    assert total[0] == total[1] == len(rows)
    return dict(rows)


def test_kill_9_during_ingest_loses_no_acked_event(tmp_path: Path) -> None:
    db = tmp_path / "router-ext.db"
    server = start_server(f"sqlite:///{db}")
    publishers = Publishers(server)
    publishers.wait_for(2000)
    server.stop(signal.SIGKILL)
    acked = publishers.join()
    assert publishers.errors, "publishing should have failed once the server was killed"

    on_disk = stored(db)
    missing = {uid: id_ for uid, id_ in acked.items() if on_disk.get(uid) != id_}
    assert not missing, f"{len(missing)} acked events missing or changed after kill -9"

    # After restart, re-sending acked events is acked as duplicate with the original ids.
    restarted = start_server(f"sqlite:///{db}")
    try:
        with restarted.channel() as ch:
            ingest, _, _ = stubs(ch)
            sample = list(acked.items())[:: max(1, len(acked) // 200)]
            again = ingest.PublishBatch(ingest_pb2.PublishBatchRequest(
                events=[event(event_uid=uid) for uid, _ in sample]), timeout=10)
            assert [(a.id, a.duplicate) for a in again.acks] == [(i, True) for _, i in sample]
            fresh = ingest.Publish(ingest_pb2.PublishRequest(event=event()), timeout=5)
            assert fresh.id > max(on_disk.values())
    finally:
        restarted.stop()
    assert stored(db) == {**on_disk, fresh.event_uid: fresh.id}


def test_sigterm_drains_the_writer_and_ends_streams_cleanly(tmp_path: Path) -> None:
    db = tmp_path / "router-ext.db"
    server = start_server(f"sqlite:///{db}")
    received: list[int] = []
    ended: list[grpc.RpcError] = []

    def subscribe() -> None:
        with server.channel() as ch:
            _, stream, _ = stubs(ch)
            sub = stream.Subscribe(stream_pb2.SubscribeRequest(
                filter=types_pb2.EventFilter(), after_id=0))
            try:
                for message in sub:
                    if message.WhichOneof("kind") == "event":
                        received.append(message.event.id)
            except grpc.RpcError as exc:
                ended.append(exc)

    reader = threading.Thread(target=subscribe, daemon=True)
    reader.start()
    publishers = Publishers(server)
    publishers.wait_for(2000)
    started = time.monotonic()
    code = server.stop(signal.SIGTERM)
    stop_seconds = time.monotonic() - started
    acked = publishers.join()
    reader.join(10)
    assert code == 0
    assert stop_seconds < 12, f"shutdown took {stop_seconds:.1f}s"
    assert ended and ended[0].code() == grpc.StatusCode.UNAVAILABLE
    resume = int(dict(ended[0].trailing_metadata() or ())["resume-after-id"])
    assert received and resume == received[-1]
    assert received == sorted(received) and len(set(received)) == len(received)

    on_disk = stored(db)
    assert all(on_disk.get(uid) == id_ for uid, id_ in acked.items())
    assert set(received) <= set(on_disk.values())
