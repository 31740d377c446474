"""A shared deployment when PostgreSQL or Redis goes away: a clear 503 with Retry-After for what
needs it, answers where they can still be given, and service again once they are back — the
server never exits (no restart loop). The services are reached through a TCP forwarder the test
cuts and restores; the real servers keep running."""

from __future__ import annotations

import time
from urllib.parse import urlparse

import pytest

from tests._api_support import start
from tests._proxy import Proxy

pytestmark = [pytest.mark.shared, pytest.mark.slow]  # several servers started per test

CARD = "# 盗刷处理\n\n## 挂失\n\n信用卡被盗刷时，请立即致电客服冻结卡片，并在二十四小时内报警。\n"


def until(predicate, seconds: float = 90.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.3)
    return predicate()


@pytest.fixture()
def via(shared_settings):
    """`via(pg=proxy, redis=proxy)`: settings whose PostgreSQL and/or Redis are reached through proxies."""

    def make(name: str = "reader", pg: Proxy | None = None, redis: Proxy | None = None):
        base = shared_settings(name, rate_limit_per_minute=100000)
        update = {}
        if pg is not None:
            update["database_url"] = base.database_url.replace(":5432/", f":{pg.port}/")
        if redis is not None:
            update["redis_url"] = f"redis://127.0.0.1:{redis.port}/0"
        return base.model_copy(update=update)

    return make


def ask(api) -> int:
    return api.client.post("/api/ask", headers=api.auth("agent"), json={"question": "信用卡被盗刷怎么办"}).status_code


def test_postgres_down_gives_503_with_the_reason_and_the_reader_serves_again_when_it_is_back(via):
    pg = Proxy("127.0.0.1", 5432).up()
    try:
        with start(via(pg=pg)) as api:
            assert ask(api) == 200
            pg.down()
            r = api.client.post("/api/ask", headers=api.auth("agent"), json={"question": "信用卡被盗刷怎么办"})
            assert r.status_code == 503 and "unreachable" in r.json()["detail"] and r.headers["retry-after"]
            assert until(lambda: api.client.get("/healthz").status_code == 503, 30)  # the follower's next look fails
            pg.up()
            assert until(lambda: ask(api) == 200), "the reader did not recover"
            assert api.app.state.kb.follower.last_error is None or until(
                lambda: api.app.state.kb.follower.last_error is None)
    finally:
        pg.down()


def test_a_reader_started_while_postgres_is_down_waits_with_503_instead_of_exiting(via):
    from fastapi.testclient import TestClient

    from api.app import create_app

    pg = Proxy("127.0.0.1", 5432)  # not up yet
    try:
        with TestClient(create_app(via(pg=pg))) as client:
            r = client.get("/healthz")
            assert r.status_code == 503 and "waiting for its services" in r.json()["detail"]
            time.sleep(1.5)  # it keeps trying
            assert client.get("/healthz").status_code == 503
            pg.up()
            assert until(lambda: client.get("/healthz").status_code == 200), "the reader never started serving"
    finally:
        pg.down()


def test_redis_down_refuses_uploads_with_503_while_agents_keep_getting_answers(via):
    redis = Proxy(urlparse("redis://127.0.0.1:6379").hostname, 6379).up()
    try:
        with start(via(redis=redis)) as api:
            redis.down()
            r = api.client.post("/api/documents", headers=api.auth("admin"),
                                files={"file": ("card.md", CARD.encode("utf-8"), "text/markdown")})
            assert r.status_code == 503 and "Redis" in r.json()["detail"]
            assert ask(api) == 200  # rate limits are counted in this process meanwhile
            redis.up()
            assert until(lambda: api.client.post(
                "/api/documents", headers=api.auth("admin"),
                files={"file": ("card.md", CARD.encode("utf-8"), "text/markdown")}).status_code == 202)
    finally:
        redis.down()


def test_rate_limits_hold_across_readers(shared_settings):
    with start(shared_settings("a", rate_limit_per_minute=3)) as a, start(shared_settings("b", rate_limit_per_minute=3)) as b:
        key = a.records.create_key("one-agent", "agent")[1]
        headers = {"Authorization": f"Bearer {key}"}
        body = {"query": "提前还款"}
        codes = [api.client.post("/api/search", headers=headers, json=body).status_code for api in (a, b, a, b)]
        assert codes == [200, 200, 200, 429]  # the fourth request of the minute, whichever reader it reaches
        assert int(a.client.post("/api/search", headers=headers, json=body).headers["retry-after"]) >= 1

