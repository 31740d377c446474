"""The API documentation page works without internet access: /docs loads Swagger UI from this
server, never from a CDN."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from api.app import create_app
from kb.settings import Settings

REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\s*:\s*["']([^"']+)["']""")


def _client(tmp_path) -> TestClient:
    # no lifespan: the docs page needs neither the knowledge base nor the records database
    return TestClient(create_app(Settings(data_dir=tmp_path / "data")))


def test_docs_page_references_no_external_host_and_its_assets_are_served(tmp_path):
    client = _client(tmp_path)
    page = client.get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert not re.search(r"https?://|//cdn", page.text), "the docs page must not load anything from the internet"
    refs = [a or b for a, b in REFERENCE.findall(page.text)]
    assert any(r.endswith(".js") for r in refs) and any(r.endswith(".css") for r in refs)
    for ref in refs:
        assert ref.startswith("/"), ref
        resp = client.get(ref)
        assert resp.status_code == 200 and resp.content, ref
    script = client.get(next(r for r in refs if r.endswith(".js")))
    assert "SwaggerUIBundle" in script.text


def test_the_cdn_only_redoc_page_is_not_offered(tmp_path):
    assert _client(tmp_path).get("/redoc").status_code == 404
