"""The OpenAPI page at ``/schema``, served with its own assets so that it works offline.

Litestar's render plugins load their JavaScript and CSS from a public CDN by default, which
leaves ``/schema`` blank on a network without internet (a police LAN). Here Swagger UI's
files come from the ``swagger-ui-py`` wheel installed with the server (a pinned copy of
``swagger-ui-dist``) and are served at ``/schema-assets/``.
"""

from __future__ import annotations

from pathlib import Path

import swagger_ui
from litestar import Response, get
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.params import FromPath

from server.errors import NotFound

ASSETS_URL = "/schema-assets"
ASSETS_DIR = Path(swagger_ui.__file__).parent / "static"
ASSETS: dict[str, str] = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui-standalone-preset.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
"""The only files served (no directory walking)."""


def openapi_config() -> OpenAPIConfig:
    """OpenAPI at ``/schema`` (Swagger UI, local assets) and ``/schema/openapi.json``."""
    swagger = SwaggerRenderPlugin(
        js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_URL}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_URL}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS_URL}/favicon-32x32.png'>",
        path=["/", "/swagger"],
    )
    return OpenAPIConfig(title="Vigil", version="0.1.0", path="/schema",
                         render_plugins=[swagger])


@get(f"{ASSETS_URL}/{{name:str}}", include_in_schema=False, cache=False)
async def schema_asset(name: FromPath[str]) -> Response[bytes]:
    """One Swagger UI file, cached by browsers for a day."""
    if name not in ASSETS:
        raise NotFound("no such file")
    return Response((ASSETS_DIR / name).read_bytes(), media_type=ASSETS[name],
                    headers={"Cache-Control": "public, max-age=86400",
                             "X-Content-Type-Options": "nosniff"})
