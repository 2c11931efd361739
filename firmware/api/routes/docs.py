"""``/docs`` (Swagger UI) and ``/redoc`` for the logged-in owner, with their scripts and styles
served from the camera itself.

FastAPI's own pages load Swagger UI and ReDoc from a CDN into the camera's origin: unchecked
code with the owner's session, and a blank page on the hotspot, which has no internet. The
files come from the ``fastapi-offline`` package (MIT), which ships Swagger UI's and ReDoc's
distributions; they are mounted at :data:`ASSETS` (public, like the UI's own static files).
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/static/docs"
_FILES = Path(fastapi_offline.__file__).parent / "static"
#: Both pages start their viewer with an inline script; everything else is this origin's.
#: ReDoc would fetch its "powered by" logo from cdn.redoc.ly: the policy stops it.
CSP = "; ".join((
    "default-src 'self'",
    "script-src 'self' 'unsafe-inline'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "worker-src 'self' blob:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
))
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "Cache-Control": "no-cache"}


def install(app: FastAPI) -> None:
    """Mount the assets and add the two pages (create the app with ``docs_url=None`` and
    ``redoc_url=None``)."""
    app.mount(ASSETS, StaticFiles(directory=_FILES), name="docs-assets")
    # Plain strings, not the app: FastAPI keeps endpoints in caches that outlive an app, and
    # an endpoint holding the app would keep its camera alive (200 MB each in the tests).
    openapi_url = app.openapi_url or "/openapi.json"
    title = f"{app.title} API"

    @app.get("/docs", include_in_schema=False)
    def swagger() -> HTMLResponse:
        return _with_policy(get_swagger_ui_html(
            openapi_url=openapi_url, title=title,
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
        ))

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return _with_policy(get_redoc_html(
            openapi_url=openapi_url, title=title,
            redoc_js_url=f"{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS}/favicon.png", with_google_fonts=False,
        ))


def _with_policy(page: HTMLResponse) -> HTMLResponse:
    page.headers.update(HEADERS)
    return page
