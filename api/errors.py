"""One place that turns kb.errors and request-validation failures into HTTP answers."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from kb.errors import (
    CiteDeskError,
    ConfigError,
    IngestError,
    LLMError,
    NotFoundError,
    ServiceUnavailableError,
    StoreError,
    ValidationError,
    WriterLockedError,
)

log = logging.getLogger("citedesk.api")

# Most specific first: WriterLockedError is a StoreError.
STATUS = [
    (ValidationError, 422),
    (NotFoundError, 404),
    (WriterLockedError, 409),
    (IngestError, 422),
    (LLMError, 502),
    (StoreError, 503),
    (ConfigError, 500),
]


def status_for(exc: CiteDeskError) -> int:
    for cls, code in STATUS:
        if isinstance(exc, cls):
            return code
    return 500


def _where(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


def describe_validation(exc: RequestValidationError) -> list[dict]:
    out = []
    for err in exc.errors():
        kind = err.get("type", "")
        if kind == "json_invalid":
            ctx = err.get("ctx") or {}
            msg = f"the request body is not valid JSON ({ctx.get('error', 'parse error')})"
            out.append({"field": "body", "problem": msg})
        else:
            out.append({"field": _where(tuple(err.get("loc", ()))), "problem": err.get("msg", "invalid")})
    return out


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CiteDeskError)
    async def _citedesk_error(request: Request, exc: CiteDeskError) -> JSONResponse:
        code = status_for(exc)
        if code >= 500 and isinstance(exc, ConfigError):
            log.error("configuration error on %s: %s", request.url.path, exc)
            detail = "the server is misconfigured; the administrator has been told in the server log"
        else:
            detail = str(exc) or type(exc).__name__
        headers = {"Retry-After": str(RETRY_AFTER)} if isinstance(exc, ServiceUnavailableError) else None
        return JSONResponse({"detail": detail, "error": type(exc).__name__}, status_code=code, headers=headers)

    _install_unreachable_handlers(app)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = describe_validation(exc)
        summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
        return JSONResponse({"detail": summary, "problems": problems}, status_code=422)


RETRY_AFTER = 5  # seconds a client is told to wait when a service of a shared deployment is down


def unavailable_response(exc: BaseException) -> JSONResponse | None:
    """503 with the reason and a Retry-After when `exc` says a service cannot be reached (the
    records database, Redis, or a ServiceUnavailableError of the catalog or Chroma); else None.
    Also used where a middleware meets such an error before the app's handlers can (api.bodies)."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from sqlalchemy.exc import InterfaceError, OperationalError

    if isinstance(exc, ServiceUnavailableError):
        detail = str(exc)
    elif isinstance(exc, OperationalError | InterfaceError | RedisConnectionError | RedisTimeoutError):
        what = "Redis" if isinstance(exc, RedisConnectionError | RedisTimeoutError) else "the records database"
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        detail = f"{what} is unreachable right now ({reason[0] if reason else 'no answer'}); try again shortly"
    else:
        return None
    log.warning("503: %s", detail)
    return JSONResponse({"detail": detail, "error": "ServiceUnavailableError"}, status_code=503,
                        headers={"Retry-After": str(RETRY_AFTER)})


def _install_unreachable_handlers(app: FastAPI) -> None:
    """The records database (SQLAlchemy) or Redis cannot be reached: 503 with the reason and a
    Retry-After, never a 500; the server keeps running and answers again once they are back."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from sqlalchemy.exc import InterfaceError, OperationalError

    for cls in (OperationalError, InterfaceError, RedisConnectionError, RedisTimeoutError):
        app.add_exception_handler(cls, lambda request, exc: unavailable_response(exc))
