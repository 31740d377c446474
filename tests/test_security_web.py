"""Attacks on the web layer, each reproduced against the real app: bodies read before the caller
is known, unlimited bodies, password guessing and its side channels, sessions that outlive
sign-out, a password change or deactivation, and a weak production secret."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from _api_support import build_kb, settings_for, start
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from kb.errors import ConfigError
from kb.settings import Settings

SECRET = "q9V3nT7xK2mL8pR4sW6yB1cD5fG0hJ3kZ7uN2aE4iO8t"
PASSWORD = "pw-12345678-long"


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    settings = settings_for(tmp_path_factory.mktemp("sec") / "data", secret_key=SECRET,
                            login_limit_per_user="3/15minutes", login_limit_per_address="8/15minutes")
    build_kb(settings)
    with start(settings) as api:
        for name, role in (("ann", "agent"), ("bob", "agent"), ("cat", "trainer"), ("dan", "agent")):
            api.records.add_user(name, role, password=PASSWORD)
        yield api


def _csrf(client) -> str:
    html = client.get("/login").text
    return BeautifulSoup(html, "html.parser").find("meta", attrs={"name": "csrf-token"})["content"]


def _browser(api, address: str) -> TestClient:
    """A client calling from `address` (the app's objects are already up: no second lifespan)."""
    return TestClient(api.app, client=(address, 50000), follow_redirects=False)


def _sign_in(api, username: str, password: str = PASSWORD, address: str = "10.0.0.1"):
    client = _browser(api, address)
    token = _csrf(client)
    resp = client.post("/login", data={"username": username, "password": password, "csrf": token})
    api.last_browser = client
    return resp


# -- item 5: the caller is checked before a body is read; every body has a cap -------------------
def _asgi(app, method: str, path: str, headers: dict[str, str]) -> tuple[int, bool]:
    """Call the app directly; returns (status, whether the app ever asked for the body)."""
    asked = []
    sent: list[dict] = []

    async def receive():
        asked.append(True)
        return {"type": "http.request", "body": b"x" * 1024, "more_body": True}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5000),
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, bool(asked)


def test_an_unauthenticated_upload_is_refused_before_its_body_is_read(api):
    multipart = {"content-type": "multipart/form-data; boundary=xyz", "content-length": str(1 << 30)}
    status, read = _asgi(api.app, "POST", "/api/documents", multipart)
    assert status == 401 and not read
    status, read = _asgi(api.app, "POST", "/api/documents",
                         {**multipart, "authorization": "Bearer cdk_not-a-key", "content-length": "2048"})
    assert status == 401 and not read
    status, read = _asgi(api.app, "POST", "/trainer/qasets/import", {**multipart, "content-length": "2048"})
    assert status == 303 and not read  # a page form: back to sign-in


def test_every_body_has_a_cap_checked_before_it_is_read(api):
    admin = {"authorization": f"Bearer {api.keys['admin']}"}
    multipart = {**admin, "content-type": "multipart/form-data; boundary=xyz"}
    status, read = _asgi(api.app, "POST", "/api/documents", {**multipart, "content-length": str(1 << 30)})
    assert status == 413 and not read
    status, read = _asgi(api.app, "POST", "/api/qasets/1/import", {**multipart, "content-length": str(11 << 20)})
    assert status == 413 and not read
    json_body = {**admin, "content-type": "application/json", "content-length": str(2 << 20)}
    status, read = _asgi(api.app, "POST", "/api/ask", json_body)
    assert status == 413 and not read
    chunked = {**admin, "content-type": "application/json", "transfer-encoding": "chunked"}
    status, read = _asgi(api.app, "POST", "/api/ask", chunked)
    assert status == 411 and not read


def test_a_body_longer_than_declared_is_cut_off_at_the_cap(api):
    big = "提前还款" * 300_000  # about 3.6 MB of JSON
    resp = api.client.post("/api/ask", json={"question": big}, headers=api.auth("agent"))
    assert resp.status_code == 413 and "limit" in resp.json()["detail"]


# -- item 6: password guessing -------------------------------------------------------------------
def test_sign_in_is_limited_per_user_even_with_the_right_password_afterwards(api):
    assert [_sign_in(api, "bob", "wrong-guess", address="10.0.0.1").status_code for _ in range(3)] == [401] * 3
    refused = _sign_in(api, "bob", PASSWORD, address="10.0.0.2")  # the right password, another address
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert "登录失败次数过多" in refused.text
    assert api.last_browser.get("/sidebar").status_code == 303  # not signed in
    assert _sign_in(api, "ann", address="10.0.0.1").status_code == 303  # other users are not locked out


def test_sign_in_is_limited_per_address(api):
    codes = [_sign_in(api, f"nobody{i}", "x", address="10.9.9.9").status_code for i in range(9)]
    assert codes[:8] == [401] * 8 and codes[8] == 429
    assert _sign_in(api, "dan", address="10.9.9.9").status_code == 429
    assert _sign_in(api, "dan", address="10.9.9.8").status_code == 303


def test_failed_sign_ins_do_not_write_a_chosen_name_as_an_actor(api):
    _sign_in(api, "<script>x</script>13912345678", "x", address="10.1.1.1")
    _sign_in(api, "cat", "wrong", address="10.1.1.1")
    events = api.records.audit_events(action="login.failed", limit=1000)
    actors = {e.actor for e in events}
    assert "<script>x</script>13912345678" not in actors and "(unknown user)" in actors
    assert not any("13912345678" in str(e.detail) + e.target for e in events)
    assert any(e.actor == "cat" for e in events)  # a failure against a real account names it


def test_only_a_few_password_checks_run_at_once(api, monkeypatch):
    """Each check takes argon2's 64 MiB: 12 sign-ins at once must not run 12 checks at once."""
    records = api.records
    real = records.authenticate
    running, peak, lock = [0], [0], threading.Lock()

    def counting(name, password):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            time.sleep(0.2)  # long enough for the others to arrive while this one runs
            return real(name, password)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(records, "authenticate", counting)
    client = api.client  # one client: one event loop, as in the server
    client.cookies.clear()
    token = _csrf(client)
    cookies = dict(client.cookies)

    def attempt(i):
        client.post("/login", data={"username": f"flood{i}", "password": "x", "csrf": token}, cookies=cookies,
                    follow_redirects=False)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert 1 <= peak[0] <= 2


# -- item 8: sessions end when they should -------------------------------------------------------
def _saved_session(api, username: str) -> str:
    assert _sign_in(api, username, address="10.3.0.1").status_code == 303
    return api.last_browser.cookies.get("citedesk_session")


def _works(api, cookie: str) -> bool:
    client = _browser(api, "10.3.0.2")
    client.cookies.set("citedesk_session", cookie)
    page = client.get("/sidebar").status_code == 200
    call = client.get("/api/documents/jobs/none").status_code != 401
    assert page == call
    return page


def test_a_cookie_saved_before_sign_out_no_longer_works(api):
    saved = _saved_session(api, "ann")
    assert _works(api, saved)
    browser = api.last_browser
    token = BeautifulSoup(browser.get("/sidebar").text, "html.parser").find(
        "meta", attrs={"name": "csrf-token"})["content"]
    assert browser.post("/logout", data={"csrf": token}).status_code == 303
    assert not _works(api, saved)


def test_a_password_change_or_deactivation_ends_saved_sessions(api):
    saved = _saved_session(api, "dan")
    api.records.set_password("dan", "another-long-password")
    assert not _works(api, saved)
    api.records.set_password("dan", PASSWORD)
    saved = _saved_session(api, "dan")
    api.records.set_active("dan", False)
    assert not _works(api, saved)
    api.records.set_active("dan", True)
    assert not _works(api, saved)


def test_a_key_of_a_disabled_user_stops_working(api):
    user = api.records.add_user("eve", "agent", password=PASSWORD)
    _, raw = api.records.create_key("eve-key", "agent", user_id=user.id)
    headers = {"Authorization": f"Bearer {raw}"}
    assert api.client.post("/api/search", json={"query": "提前还款"}, headers=headers).status_code == 200
    api.records.set_active("eve", False)
    assert api.client.post("/api/search", json={"query": "提前还款"}, headers=headers).status_code == 401


# -- item 9: a weak secret in production ---------------------------------------------------------
@pytest.mark.parametrize("weak", ["CHANGEME", "x", "password", "a" * 64, "correcthorsebatterystaplecorrect"])
def test_production_refuses_a_weak_secret(weak):
    with pytest.raises(ConfigError, match="secrets.token_urlsafe"):
        Settings(env="production", secret_key=weak).check_safe()


def test_production_accepts_a_generated_secret_and_the_app_refuses_to_start_with_a_weak_one(tmp_path):
    import secrets

    from fastapi.testclient import TestClient

    from api.app import create_app
    from kb.records.crypto import new_key

    Settings(env="production", secret_key=secrets.token_urlsafe(48), records_key=new_key()).check_safe()
    with pytest.raises(ConfigError), TestClient(create_app(Settings(env="production", secret_key="CHANGEME",
                                                                    data_dir=tmp_path / "d"))):
        pass
