"""The dashboard's files: exactly what is on disk, gzip when accepted, 304 when unchanged."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import ROOT, ServerProcess, start_server

FILES = sorted(p.relative_to(ROOT / "dashboard").as_posix()
               for p in (ROOT / "dashboard").rglob("*") if p.is_file())
TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = start_server(f"sqlite:///{tmp_path_factory.mktemp('static') / 'r.db'}")
    yield proc
    proc.stop()


def fetch(server: ServerProcess, name: str, encoding: str) -> tuple[httpx.Response, bytes]:
    """The response and the bytes as sent (httpx would decode gzip itself)."""
    with httpx.stream("GET", f"{server.url}/dashboard/{name}",
                      headers={"accept-encoding": encoding}, timeout=5) as r:
        return r, b"".join(r.iter_raw())


def test_every_file_is_served_as_on_disk_with_its_type(server: ServerProcess) -> None:
    assert "js/main.js" in FILES and "index.html" in FILES
    for name in FILES:
        on_disk = (ROOT / "dashboard" / name).read_bytes()
        plain, sent = fetch(server, name, "identity")
        assert plain.status_code == 200 and "content-encoding" not in plain.headers
        assert sent == on_disk, name
        squeezed, raw = fetch(server, name, "gzip, deflate, br")
        if squeezed.headers.get("content-encoding") == "gzip":
            assert gzip.decompress(raw) == on_disk, name
        else:
            assert raw == on_disk and len(on_disk) < 512, name
        expected = TYPES.get(Path(name).suffix)
        if expected:
            assert squeezed.headers["content-type"].startswith(expected), name
            assert plain.headers["content-type"] == squeezed.headers["content-type"]
        assert squeezed.headers["vary"] == "Accept-Encoding"


def test_text_files_are_compressed_when_the_browser_accepts_gzip(
        server: ServerProcess) -> None:
    r = httpx.get(f"{server.url}/dashboard/js/main.js", headers={"accept-encoding": "gzip"},
                  timeout=5)
    assert r.headers["content-encoding"] == "gzip"
    assert int(r.headers["content-length"]) < len(r.content)  # httpx decoded it
    assert r.content == (ROOT / "dashboard" / "js" / "main.js").read_bytes()
    assert "default-src 'self'" in r.headers["content-security-policy"]
    refused = httpx.get(f"{server.url}/dashboard/js/main.js",
                        headers={"accept-encoding": "gzip;q=0"}, timeout=5)
    assert "content-encoding" not in refused.headers


@pytest.mark.parametrize("encoding", ["gzip", "identity"])
def test_a_matching_validator_gets_304(server: ServerProcess, encoding: str) -> None:
    url = f"{server.url}/dashboard/css/app.css"
    first = httpx.get(url, headers={"accept-encoding": encoding}, timeout=5)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert etag.startswith('W/"') == (encoding == "gzip")
    again = httpx.get(url, headers={"accept-encoding": encoding, "if-none-match": etag},
                      timeout=5)
    assert again.status_code == 304 and again.content == b""
    since = httpx.get(url, headers={"accept-encoding": encoding,
                                    "if-modified-since": modified}, timeout=5)
    assert since.status_code == 304
    other = httpx.get(url, headers={"accept-encoding": encoding,
                                    "if-none-match": '"not-this-one"'}, timeout=5)
    assert other.status_code == 200 and other.content
