"""The operator dashboard: static HTML, CSS and JavaScript served at `/` and `/dashboard/`.

The UI is plain files (no build step). They are found, in order, in the folder named by
`ROUTER_EXT_DASHBOARD_DIR`, in `dashboard/` beside the package (a source checkout or an
editable install), or where an installed wheel put them: `<prefix>/share/router-ext/dashboard/`
(pyproject.toml's data-files), located through the distribution's RECORD so any install
scheme (venv, --user, system) works.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Scope

from router_ext.runtime import RouterExt
from router_ext.web.static import CompressedStaticFiles

CHECKOUT = Path(__file__).resolve().parent.parent.parent / "dashboard"
DISTRIBUTION = "router-ext"
INSTALLED_INDEX = "share/router-ext/dashboard/index.html"  # as pyproject.toml's data-files say

# The page only talks to this origin; nothing is loaded from elsewhere.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
        "style-src 'self'; script-src 'self'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def installed_dir() -> Path | None:
    """The folder an installed wheel put the dashboard in, or None (not installed that way)."""
    try:
        files = metadata.files(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.as_posix().endswith(INSTALLED_INDEX):
            return Path(str(file.locate())).resolve().parent
    return None


def _with_index(path: Path | None) -> Path | None:
    return path if path is not None and (path / "index.html").is_file() else None


def dashboard_dir(configured: str = "") -> Path | None:
    """The folder holding index.html, or None when the UI is not installed."""
    if configured:
        return _with_index(Path(configured))
    return _with_index(CHECKOUT) or _with_index(installed_dir())


class _DashboardFiles(CompressedStaticFiles):
    """Static files (gzip when accepted) with security headers; revalidated each load (a 304
    when unchanged) so upgrades show at once."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        response.headers["cache-control"] = "no-cache"
        return response


def routes(core: RouterExt) -> list[BaseRoute]:
    """`/` redirects to `/dashboard/`, which serves the single-page UI."""
    folder = dashboard_dir(core.settings.dashboard_dir)

    async def root(request: Request) -> Response:
        if folder is None:
            return Response("router-ext is running; the dashboard files are not installed.\n",
                            media_type="text/plain")
        return RedirectResponse("/dashboard/", status_code=307)

    async def bare(request: Request) -> Response:
        return RedirectResponse("/dashboard/", status_code=307)

    found: list[BaseRoute] = [Route("/", root, methods=["GET", "HEAD"])]
    if folder is not None:
        found += [Route("/dashboard", bare, methods=["GET", "HEAD"]),
                  Mount("/dashboard", app=_DashboardFiles(directory=folder, html=True),
                        name="dashboard")]
    return found
