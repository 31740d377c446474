"""The one error handler: kb.errors become HTTP statuses with messages a person can act on,
and configuration problems never leak their details to the caller."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from api.errors import install_error_handlers
from kb.errors import (
    ConfigError,
    IngestError,
    LLMError,
    NotFoundError,
    StoreError,
    ValidationError,
    WriterLockedError,
)


class Body(BaseModel):
    n: int


@pytest.fixture(scope="module")
def client():
    app = FastAPI()
    install_error_handlers(app)
    errors = {"validation": ValidationError("the question is empty"), "missing": NotFoundError("no interaction 7"),
              "locked": WriterLockedError("held by pid 42"), "config": ConfigError("password=hunter2 in URL"),
              "store": StoreError("chroma down"), "llm": LLMError("timeout"), "ingest": IngestError("bad.pdf: broken")}

    @app.get("/raise/{name}")
    def raise_(name: str):
        raise errors[name]

    @app.post("/body")
    def body(b: Body):
        return {"n": b.n}

    return TestClient(app)


@pytest.mark.parametrize("name,status,text", [
    ("validation", 422, "the question is empty"), ("missing", 404, "no interaction 7"),
    ("locked", 409, "pid 42"), ("store", 503, "chroma down"), ("llm", 502, "timeout"),
    ("ingest", 422, "bad.pdf"),
])
def test_errors_map_to_statuses(client, name, status, text):
    resp = client.get(f"/raise/{name}")
    assert resp.status_code == status and text in resp.json()["detail"]


def test_config_errors_are_500_without_details(client):
    resp = client.get("/raise/config")
    assert resp.status_code == 500
    assert "hunter2" not in resp.text and "misconfigured" in resp.json()["detail"]


def test_validation_messages_name_field_and_problem(client):
    bad_type = client.post("/body", json={"n": "many"})
    assert bad_type.status_code == 422
    assert bad_type.json()["detail"].startswith("n: ") and bad_type.json()["problems"][0]["field"] == "n"
    broken = client.post("/body", content=b'{"n": 1', headers={"Content-Type": "application/json"})
    assert broken.status_code == 422 and "not valid JSON" in broken.json()["detail"]
    missing = client.post("/body", json={})
    assert "n: Field required" in missing.json()["detail"]
