"""Authentication beyond keys: the web session with its CSRF token, and per-caller rate limits."""

from __future__ import annotations

import pytest
from _api_support import build_kb, session_cookie, settings_for, start

from api.ratelimit import RateLimiter, make_storage


def test_moving_window_limits_per_caller_on_the_configured_storage():
    storage = make_storage("memory://")
    limiter = RateLimiter(storage, per_minute=3)
    assert [limiter.hit("a") for _ in range(3)] == [None, None, None]
    wait = limiter.hit("a")
    assert wait is not None and 0 < wait <= 60
    assert limiter.hit("b") is None  # callers are counted apart
    # a second limiter on the same storage sees the same counts (what several processes share)
    assert RateLimiter(storage, per_minute=3).hit("a") is not None
    storage.reset()
    assert limiter.hit("a") is None


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    settings = settings_for(tmp_path_factory.mktemp("auth") / "data", rate_limit_per_minute=5,
                            secret_key="a-test-secret-that-is-long-enough")
    build_kb(settings)
    with start(settings) as api:
        yield api


def test_rate_limit_gives_429_with_retry_after(api):
    key = api.records.create_key("burst", "agent")[1]
    other = api.records.create_key("calm", "agent")[1]
    codes = [api.client.post("/api/search", json={"query": "提前还款"},
                             headers={"Authorization": f"Bearer {key}"}).status_code for _ in range(7)]
    assert codes[:5] == [200] * 5 and codes[5:] == [429, 429]
    last = api.client.post("/api/search", json={"query": "x"}, headers={"Authorization": f"Bearer {key}"})
    assert 1 <= int(last.headers["retry-after"]) <= 60
    ok = api.client.post("/api/search", json={"query": "x"}, headers={"Authorization": f"Bearer {other}"})
    assert ok.status_code == 200


def _login(api, username: str, role: str, csrf: str = "tok-123"):
    user = api.records.get_user_by_name(username) or api.records.add_user(username, role, password="pw-12345678")
    token = api.records.start_session(user.id)
    api.client.cookies.set("citedesk_session", session_cookie(api.settings.secret_key,
                                                              {"sid": token, "csrf": csrf}))
    return user


def test_session_user_with_csrf(api):
    try:
        _login(api, "tina", "trainer")
        assert api.client.get("/api/metrics/accuracy").status_code == 200
        assert api.client.get("/api/audit").status_code == 403  # a trainer, not an admin
        no_token = api.client.post("/api/qasets", json={"name": "set-a"})
        assert no_token.status_code == 403 and "CSRF" in no_token.json()["detail"]
        wrong = api.client.post("/api/qasets", json={"name": "set-a"}, headers={"X-CSRF-Token": "nope"})
        assert wrong.status_code == 403
        ok = api.client.post("/api/qasets", json={"name": "set-a"}, headers={"X-CSRF-Token": "tok-123"})
        assert ok.status_code == 201 and ok.json()["author"] == "tina"
    finally:
        api.client.cookies.clear()


def test_a_forged_session_cookie_is_ignored(api):
    user = api.records.get_user_by_name("tina") or api.records.add_user("tina", "trainer")
    token = api.records.start_session(user.id)
    api.client.cookies.set("citedesk_session", session_cookie("some-other-secret", {"sid": token}))
    try:
        assert api.client.get("/api/metrics/accuracy").status_code == 401
    finally:
        api.client.cookies.clear()


def test_a_cookie_without_a_standing_session_record_is_refused(api):
    # a cookie signed with the right secret but naming a user rather than a session record (what a
    # cookie saved before sign-out still held) signs nobody in
    user = api.records.get_user_by_name("tina") or api.records.add_user("tina", "trainer")
    api.client.cookies.set("citedesk_session", session_cookie(api.settings.secret_key,
                                                              {"user_id": user.id, "sid": "not-a-session"}))
    try:
        assert api.client.get("/api/metrics/accuracy").status_code == 401
    finally:
        api.client.cookies.clear()


def test_the_key_wins_over_the_session(api):
    try:
        _login(api, "tina", "trainer")
        resp = api.client.get("/api/audit", headers=api.auth("admin"))
        assert resp.status_code == 200
    finally:
        api.client.cookies.clear()


def test_authenticate_and_role_helpers_for_the_pages(api):
    api.records.add_user("pat", "agent", password="long-password-1")
    assert api.records.authenticate("pat", "long-password-1").role == "agent"
    assert api.records.authenticate("pat", "long-password-2") is None
