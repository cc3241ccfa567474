"""The officer web app's files, served at ``/officer/`` under a strict Content-Security-Policy.

Only the files listed in :data:`FILES` are served (no directory walking); each answer carries
a CSP that allows this origin alone: no inline script or style, no third-party host, images
from this origin or ``blob:`` (the alert photos are fetched with the token and shown from
memory), websockets back to this server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Request, Response, get
from litestar.params import FromPath
from litestar.response import Redirect

from server.errors import NotFound

STATIC = Path(__file__).parent / "static"

FILES: dict[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "card.js": "text/javascript; charset=utf-8",
    "link.js": "text/javascript; charset=utf-8",
    "store.js": "text/javascript; charset=utf-8",
    "geo.js": "text/javascript; charset=utf-8",
    "sw.js": "text/javascript; charset=utf-8",
    "manifest.webmanifest": "application/manifest+json",
    "icons/icon-192.png": "image/png",
    "icons/icon-512.png": "image/png",
    "icons/icon-maskable-512.png": "image/png",
}
"""Every file of the app shell (the service worker caches the same list)."""

CSP = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' blob:",
    "connect-src 'self'",
    "manifest-src 'self'",
    "worker-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
])
"""``'self'`` in ``connect-src`` also covers ``ws:``/``wss:`` to this host (CSP level 3)."""

SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "geolocation=(self), camera=(), microphone=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def read_file(name: str) -> bytes:
    """One file of the app (``name`` must be listed in :data:`FILES`).

    Raises:
        NotFound: any other name.
    """
    if name not in FILES:
        raise NotFound("no such file")
    return (STATIC / name).read_bytes()


@get("/officer", include_in_schema=False)
async def officer_root(request: Request[Any, Any, Any]) -> Response[bytes] | Redirect:
    """The app at ``/officer/``; ``/officer`` redirects there (the router matches both here,
    and the service worker's scope and the page's relative links need the slash)."""
    # The router strips the trailing slash from ``path``; ``raw_path`` keeps what was asked.
    raw = request.scope.get("raw_path") or b""
    if not raw.split(b"?", 1)[0].endswith(b"/"):
        return Redirect("/officer/")
    return file_response("index.html")


@get("/officer/{name:path}", include_in_schema=False)
async def officer_file(name: FromPath[str]) -> Response[bytes]:
    """A file of the app shell."""
    return file_response(name.lstrip("/") or "index.html")


def file_response(key: str) -> Response[bytes]:
    """One listed file with the security headers."""
    body = read_file(key)
    headers = dict(SECURITY_HEADERS)
    # The shell revalidates on every load (the service worker serves it when offline); the
    # icons rarely change.
    headers["Cache-Control"] = ("public, max-age=86400" if key.startswith("icons/")
                                else "no-cache")
    if key == "sw.js":
        headers["Service-Worker-Allowed"] = "/officer/"
    return Response(body, media_type=FILES[key], headers=headers)
