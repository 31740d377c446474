"""Request bodies: the caller is checked before a body is read, and every body has a size cap.

FastAPI reads (and spools to disk) a request's body before any dependency runs, so an
unauthenticated 1 GB upload would fill the temporary directory before its 401. This ASGI
middleware runs first: for a request that carries a body it checks the API key or the signed-in
session (api.auth.identify; only /login and /logout are open), refuses a body over its cap from
the declared Content-Length (413) — and a body without a declared length (411) — and stops reading
at the cap should a client send more than it declared.

Caps: a document upload CITEDESK_MAX_UPLOAD_MB, a Q&A-set import 10 MB, anything else (JSON,
forms) 1 MB.
"""

from __future__ import annotations

import re

from fastapi import HTTPException
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import identify
from api.errors import unavailable_response

MAX_BODY = 1 << 20  # JSON and form posts
MAX_IMPORT = 10 << 20  # a Q&A-set file
FRAMING = 64 << 10  # room for the multipart boundaries and headers around a file
OPEN_PATHS = {"/login", "/logout"}
_UPLOAD = re.compile(r"^/api/documents/?$")
_IMPORT = re.compile(r"^(/api/qasets/\d+/import|/trainer/qasets/import)/?$")
_NO_BODY = {"GET", "HEAD", "OPTIONS"}


def body_cap(path: str, max_upload_mb: int) -> int:
    if _UPLOAD.match(path):
        return (max_upload_mb << 20) + FRAMING
    if _IMPORT.match(path):
        return MAX_IMPORT + FRAMING
    return MAX_BODY


def _mb(n: int) -> str:
    return f"{n / (1 << 20):.0f} MB" if n >= 1 << 20 else f"{n // 1024} KB"


class BodyGuard:
    def __init__(self, app: ASGIApp, max_upload_mb: int) -> None:
        self.app = app
        self.max_upload_mb = max_upload_mb

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _NO_BODY:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        path = scope["path"]
        refusal = await self._refuse_caller(request, path)
        if refusal is None:
            refusal = self._refuse_size(request, path)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        cap = body_cap(path, self.max_upload_mb)
        seen = 0

        async def capped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    raise HTTPException(413, f"the request body is larger than its {_mb(cap)} limit")
            return message

        await self.app(scope, capped, send)

    async def _refuse_caller(self, request: Request, path: str) -> Response | None:
        if path in OPEN_PATHS:
            return None
        records = getattr(request.app.state, "records", None)
        if records is None:  # not started: let the app answer
            return None
        try:
            await run_in_threadpool(identify, request, records)
        except HTTPException as exc:
            if path.startswith("/api/"):
                return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
            return RedirectResponse("/login", status_code=303)
        except Exception as exc:
            unavailable = unavailable_response(exc)  # the records database (or a shared service) is down: 503
            if unavailable is None:
                raise
            return unavailable
        return None

    def _refuse_size(self, request: Request, path: str) -> Response | None:
        cap = body_cap(path, self.max_upload_mb)
        declared = request.headers.get("content-length")
        if declared is None:
            if "chunked" in request.headers.get("transfer-encoding", "").lower():
                return JSONResponse({"detail": "send the request body with a Content-Length"}, status_code=411)
            return None
        if not declared.isdigit():
            return JSONResponse({"detail": "the Content-Length header is not a number"}, status_code=400)
        if int(declared) > cap:
            return JSONResponse({"detail": f"the request body is larger than its {_mb(cap)} limit"}, status_code=413)
        return None
