"""Property-based requests generated from the app's own OpenAPI schema (schemathesis, in process,
with a valid admin key): whatever the generated input, the server never answers 5xx. Eight
examples per operation keep it near 30 s."""

from __future__ import annotations

import pytest
import schemathesis
from _api_support import build_kb, settings_for, start
from hypothesis import HealthCheck, given, settings


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    s = settings_for(tmp_path_factory.mktemp("fuzz") / "data")
    build_kb(s)
    with start(s) as api:  # runs the lifespan; generated calls go to the same app object
        yield api


def without_lifespan(app):
    """The app as seen by generated calls: its lifespan already runs in the `api` fixture (the
    knowledge base has one writer), so lifespan events are acknowledged here and not passed on."""

    async def asgi(scope, receive, send):
        if scope["type"] != "lifespan":
            return await app(scope, receive, send)
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    return asgi


@pytest.fixture(scope="module")
def fuzz_schema(api):
    return schemathesis.openapi.from_asgi("/openapi.json", without_lifespan(api.app))


def test_no_server_errors(fuzz_schema, api):
    auth = {"Authorization": f"Bearer {api.keys['admin']}"}
    failures: list[str] = []
    operations = [r.ok() for r in fuzz_schema.get_all_operations()]
    assert len(operations) >= 25

    for op in operations:
        @given(case=op.as_strategy())
        @settings(max_examples=8, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case):
            response = case.call(headers=auth)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:200]}")

        check()
    assert not failures, "\n".join(failures[:10])
