"""What the tests of the server-rendered pages (ui.routes) share: the pages mounted on a real
knowledge base and a real records database (`site`), a client, the CSRF token of a page, signing
in, and the form controls a page leaves without a label. A test module imports what it uses."""

from __future__ import annotations

from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.testclient import TestClient
from starlette.middleware.sessions import SessionMiddleware

from api.ratelimit import LoginGuard, make_storage
from kb.knowledge import KnowledgeBase
from kb.records import Records
from kb.settings import Settings, get_settings
from ui.demo_site import PASSWORD, build_site
from ui.routes import router

STATIC = Path(__file__).resolve().parent.parent / "ui" / "static"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("ui") / "data"
    build_site(data_dir)
    settings = Settings(data_dir=data_dir)
    kb = KnowledgeBase.open(settings, writer=False)
    records = Records(settings.records_url)
    app = FastAPI()
    app.add_middleware(SessionMiddleware, secret_key="test-secret", session_cookie="citedesk_session")
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.state.kb, app.state.records, app.state.settings = kb, records, settings
    app.state.login_guard = LoginGuard(make_storage("memory://"), "1000/minute", "1000/minute")
    app.dependency_overrides[get_settings] = lambda: settings
    yield app, kb, records
    records.close()
    kb.close()


def _client(site) -> TestClient:
    return TestClient(site[0], follow_redirects=False)


def _csrf(html: str) -> str:
    return BeautifulSoup(html, "html.parser").find("meta", attrs={"name": "csrf-token"})["content"]


def signed_in(site, username: str) -> TestClient:
    client = _client(site)
    token = _csrf(client.get("/login").text)
    r = client.post("/login", data={"username": username, "password": PASSWORD, "csrf": token, "next": "/sidebar"})
    assert r.status_code == 303 and r.headers["location"] == "/sidebar"
    return client


def unlabelled_controls(html: str) -> list[str]:
    soup = BeautifulSoup(html, "html.parser")
    labelled = {lab.get("for") for lab in soup.find_all("label")}
    bad = []
    for el in soup.find_all(["input", "select", "textarea"]):
        if el.get("type") in ("hidden", "submit"):
            continue
        if el.get("id") not in labelled and el.find_parent("label") is None:
            bad.append(str(el)[:80])
    return bad
