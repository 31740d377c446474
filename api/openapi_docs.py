"""The interactive API documentation at /docs, served from this server.

FastAPI's default /docs page loads Swagger UI from a CDN, so it is blank on a machine without
internet access. Here the Swagger UI files come from the `swagger-ui-bundle-v2` package (Swagger UI
5, which reads OpenAPI 3.1; it installs as the `swagger_ui_bundle` module) and are mounted under /docs-assets, following FastAPI's "self-hosting JavaScript and CSS
for docs" recipe. ReDoc has no offline bundle on PyPI, so /redoc is turned off rather than left blank.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

ASSETS = "/docs-assets"


def install_docs(app: FastAPI) -> None:
    """Serve /docs with local Swagger UI assets. The app must be built with docs_url=None."""
    app.mount(ASSETS, StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} — API",
            oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
            # no badge that would call validator.swagger.io
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
