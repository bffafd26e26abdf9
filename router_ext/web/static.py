"""Static files gzip-compressed when the browser accepts it, with validators kept working.

Starlette's StaticFiles already answers with ETag and Last-Modified and turns a matching
If-None-Match or If-Modified-Since into 304. This adds compression for text files: each file
is compressed once per version on disk (path, size, modification time) and kept in memory,
so a cold browser downloads about a quarter of the bytes and a warm one still gets 304s.
The compressed variant carries the file's ETag marked weak (as nginx does), which Starlette's
check accepts on revalidation, plus `Vary: Accept-Encoding` for caches in between.
"""

from __future__ import annotations

import gzip
import os
import threading
from pathlib import Path

from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope

COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml")
MIN_BYTES = 512  # below this the gzip header eats the saving
MAX_BYTES = 4 * 1024 * 1024  # larger files are sent as they are, not held in memory
MAX_ENTRIES = 256
_Version = tuple[str, int, int]  # path, size, mtime_ns


def accepts_gzip(headers: Headers) -> bool:
    """Whether Accept-Encoding lists gzip without refusing it (q=0)."""
    for part in headers.get("accept-encoding", "").lower().split(","):
        name, _, params = part.strip().partition(";")
        if name.strip() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


class GzipCache:
    """Compressed bodies per file version; bounded, thread-safe."""

    def __init__(self) -> None:
        self._data: dict[_Version, bytes] = {}
        self._lock = threading.Lock()

    def get(self, path: str, stat: os.stat_result) -> bytes:
        """The gzip body of this version of the file, compressing it the first time."""
        key = (path, stat.st_size, stat.st_mtime_ns)
        with self._lock:
            hit = self._data.get(key)
        if hit is not None:
            return hit
        body = gzip.compress(Path(path).read_bytes(), compresslevel=9, mtime=0)
        with self._lock:
            if len(self._data) >= MAX_ENTRIES:
                self._data.clear()
            self._data[key] = body
        return body


class CompressedStaticFiles(StaticFiles):
    """StaticFiles that send text files gzip-compressed to browsers that accept it."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.gzip_cache = GzipCache()

    def file_response(self, full_path: PathLike, stat_result: os.stat_result, scope: Scope,
                      status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        request = Headers(scope=scope)
        if (not isinstance(response, FileResponse) or response.status_code != 200
                or scope.get("method") != "GET" or "range" in request
                or not accepts_gzip(request)
                or not (MIN_BYTES <= stat_result.st_size <= MAX_BYTES)
                or not (response.media_type or "").startswith(COMPRESSIBLE)):
            if isinstance(response, FileResponse):
                response.headers["vary"] = "Accept-Encoding"
            return response
        body = self.gzip_cache.get(str(full_path), stat_result)
        headers = {k: v for k, v in response.headers.items()
                   if k not in ("content-length", "content-type", "etag")}
        headers.update({"content-encoding": "gzip", "vary": "Accept-Encoding",
                        "etag": "W/" + response.headers["etag"]})
        return Response(body, status_code=200, headers=headers,
                        media_type=response.headers["content-type"])
