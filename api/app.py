"""The FastAPI app factory. Heavy objects — settings, the knowledge base, the Answerer, the records
database, the job threads and the writes (api.writes) — are built once in the lifespan and reached
through api/deps.py. Embedded (the default), the server is the one writer of its data directory;
in a shared deployment (CITEDESK_REDIS_URL) it is a reader that follows the catalog and queues
writes for `citedesk worker`."""

from __future__ import annotations

import logging
import threading
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from api.bodies import BodyGuard
from api.errors import install_error_handlers
from api.openapi_docs import install_docs
from api.ratelimit import LoginGuard, RateLimiter, make_storage
from api.routers import ROUTERS
from api.tasks import JobManager
from api.writes import LocalWrites
from kb.records import Records, settings_hash
from kb.settings import Settings, get_settings
from ui.routes import STATIC_DIR
from ui.routes import router as pages

log = logging.getLogger("citedesk.api")


def _settings_of(app: FastAPI) -> Settings:
    return app.dependency_overrides.get(get_settings, get_settings)()


@asynccontextmanager
async def lifespan(app: FastAPI):
    settings = _settings_of(app)
    settings.check_safe()  # production refuses a weak secret however the app is started
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app.state.settings = settings
    app.state.settings_hash = settings_hash(settings)
    app.state.jobs = JobManager()
    if settings.shared:
        from api.reader import SharedReader

        opened = SharedReader(app, settings).start()  # 503 while its services cannot be reached
    else:
        opened = _open_embedded(app, settings)
    try:
        yield
    finally:
        app.state.jobs.shutdown(wait=True)
        opened.close()


class _Embedded:
    def __init__(self, kb, records) -> None:
        self.kb, self.records = kb, records

    def close(self) -> None:
        self.kb.close()
        self.records.close()


def _open_embedded(app: FastAPI, settings: Settings) -> _Embedded:
    """The embedded default: this process is the one writer of its data directory."""
    from kb.answer.pipeline import Answerer
    from kb.knowledge import KnowledgeBase

    storage = make_storage(settings.rate_limit_storage)
    records = Records.open(settings)
    records.migrate()
    try:
        kb = KnowledgeBase.open(settings, writer=True)
    except BaseException:
        records.close()
        raise
    app.state.records = records
    app.state.kb = kb
    app.state.answerer = Answerer(kb, settings)
    app.state.writes = LocalWrites(kb, app.state.jobs, settings.data_dir)
    # requests per caller and sign-in failures share one storage (CITEDESK_RATE_LIMIT_STORAGE)
    app.state.limiter = RateLimiter(storage, settings.rate_limit_per_minute)
    app.state.login_guard = LoginGuard(storage, settings.login_limit_per_user, settings.login_limit_per_address)
    threading.Thread(target=warm_up, args=(kb,), name="warm-up", daemon=True).start()
    return _Embedded(kb, records)


def warm_up(kb) -> None:
    """One search in the background at start-up: loads the lexical index and starts the question
    encoder's worker process, so the first agents' questions do not wait for them."""
    try:
        kb.search("预热")
    except Exception as exc:  # a closed or empty knowledge base: the first real search will say why
        log.debug("warm-up search failed: %s", exc)


def _include_ui(app: FastAPI) -> None:
    """The web pages (ui.routes) and their static files."""
    app.include_router(pages)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app. With `settings`, they replace get_settings() everywhere in this app."""
    effective = settings or get_settings()
    app = FastAPI(
        title="CiteDesk",
        version="0.1.0",
        description="Cited answers for consumer-credit customer service. Authenticate with "
        "`Authorization: Bearer <API key>`; roles are agent < trainer < admin.",
        lifespan=lifespan,
        docs_url=None,  # served by api.openapi_docs from local files, not a CDN
        redoc_url=None,
    )
    if settings is not None:
        app.dependency_overrides[get_settings] = lambda: settings
    # inside the session middleware (it needs the session), outside everything that reads a body
    app.add_middleware(BodyGuard, max_upload_mb=effective.max_upload_mb)
    app.add_middleware(
        SessionMiddleware,
        secret_key=effective.secret_key,
        https_only=effective.env == "production",
        same_site="lax",
        session_cookie="citedesk_session",
    )
    frame_policy = " ".join(["frame-ancestors 'self'", effective.frame_ancestors]).strip()

    @app.middleware("http")
    async def frame_ancestors(request, call_next):
        # clickjacking protection: only CiteDesk itself and the configured CRM origins may frame a page
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", frame_policy)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    install_error_handlers(app)
    install_docs(app)
    for router in ROUTERS:
        app.include_router(router)
    _include_ui(app)
    return app
