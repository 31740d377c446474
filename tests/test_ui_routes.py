"""Server-rendered pages (ui.routes): sign-in, role guards, the sidebar, the document view and the
widget — over a real knowledge base and a real records database (the trainer's and admin's pages:
test_ui_pages.py)."""

from __future__ import annotations

import re

import pytest
from bs4 import BeautifulSoup

from tests._ui_support import (  # noqa: F401 - site is a fixture
    PASSWORD,
    STATIC,
    _client,
    _csrf,
    signed_in,
    site,
    unlabelled_controls,
)
from ui.routes.common import safe_next


# -- sign-in and guards ------------------------------------------------------------------------
def test_signed_out_pages_redirect_to_login_with_the_way_back(site):
    client = _client(site)
    for path in ("/sidebar", "/trainer/dashboard", "/admin/documents", "/documents/x"):
        r = client.get(path)
        assert r.status_code == 303
        assert r.headers["location"].startswith("/login?next=")
    assert client.get("/").headers["location"] == "/login"


def test_wrong_password_is_refused_and_audited(site):
    _, _, records = site
    client = _client(site)
    token = _csrf(client.get("/login").text)
    r = client.post("/login", data={"username": "agent1", "password": "nope", "csrf": token})
    assert r.status_code == 401
    assert "用户名或密码不正确" in r.text
    assert "user_id" not in r.cookies.get("citedesk_session", "")
    assert client.get("/sidebar").status_code == 303
    assert any(e.action == "login.failed" for e in records.audit_events(actor="agent1"))


def test_login_form_without_the_csrf_token_is_refused(site):
    client = _client(site)
    client.get("/login")
    r = client.post("/login", data={"username": "agent1", "password": PASSWORD, "csrf": "forged"})
    assert r.status_code == 403
    assert client.get("/sidebar").status_code == 303


def test_roles_decide_links_and_pages(site):
    agent = signed_in(site, "agent1")
    html = agent.get("/sidebar").text
    assert 'href="/sidebar"' in html and "/trainer/" not in html and "/admin/" not in html
    for path in ("/trainer/qasets", "/trainer/review", "/admin/documents", "/admin/users"):
        r = agent.get(path)
        assert r.status_code == 403, path
        assert "无权访问" in r.text
    trainer = signed_in(site, "trainer1")
    assert trainer.get("/trainer/dashboard").status_code == 200
    assert trainer.get("/admin/audit").status_code == 403
    admin_html = signed_in(site, "admin1").get("/sidebar").text
    assert 'href="/admin/documents"' in admin_html and 'href="/trainer/review"' in admin_html


def test_logout_ends_the_session(site):
    client = signed_in(site, "agent1")
    token = _csrf(client.get("/sidebar").text)
    assert client.post("/logout", data={"csrf": token}).status_code == 303
    assert client.get("/sidebar").status_code == 303


@pytest.mark.parametrize(("value", "expected"), [("/trainer/review?x=1", "/trainer/review?x=1"),
                                                 ("https://evil.example/", "/sidebar"), ("//evil", "/sidebar"),
                                                 ("/\\evil", "/sidebar"), (None, "/sidebar")])
def test_only_local_paths_are_followed_after_sign_in(value, expected):
    assert safe_next(value) == expected


# -- the sidebar, documents, widget ------------------------------------------------------------
def test_sidebar_counts_against_the_limit_the_api_enforces(site):
    from api.routers.ask import AskRequest

    limit = next(m.max_length for m in AskRequest.model_fields["question"].metadata if hasattr(m, "max_length"))
    soup = BeautifulSoup(signed_in(site, "agent1").get("/sidebar").text, "html.parser")
    assert int(soup.find(id="question-count")["data-max"]) == limit


def test_sidebar_is_chinese_by_default_and_english_on_request(site):
    client = signed_in(site, "agent1")
    r = client.get("/sidebar")
    soup = BeautifulSoup(r.text, "html.parser")
    assert soup.html["lang"] == "zh-CN"
    assert soup.find("label", attrs={"for": "question"}).text == "客户的问题"
    assert soup.find("meta", attrs={"name": "csrf-token"})["content"]
    assert [o["value"] for o in soup.select("#product option")] == ["", "随心贷"]
    assert "客户投诉处理流程" in soup.find("template", id="complaint-procedure").decode_contents()
    assert not unlabelled_controls(r.text)
    r = client.get("/sidebar?lang=en")
    assert r.cookies.get("lang") == "en"
    soup = BeautifulSoup(r.text, "html.parser")
    assert soup.html["lang"] == "en"
    assert soup.find("label", attrs={"for": "question"}).text == "The customer's question"
    assert BeautifulSoup(client.get("/sidebar").text, "html.parser").html["lang"] == "en"  # the cookie stays


def test_document_view_has_an_anchor_per_chunk(site):
    _, kb, _ = site
    doc = next(d for d in kb.documents() if d.title == "随心贷产品说明")
    client = signed_in(site, "agent1")
    r = client.get(f"/documents/{doc.doc_id}")
    assert r.status_code == 200
    soup = BeautifulSoup(r.text, "html.parser")
    ids = [div["id"] for div in soup.select(".doc-chunk")]
    assert ids == [f"chunk-{c.chunk_id}" for c in sorted(kb.chunks_of(doc.doc_id), key=lambda c: c.meta.get("ord", 0))]
    assert "提前还款不收取违约金" in r.text
    assert "2026.2" in soup.select_one("dl.meta").text
    assert client.get("/documents/d_nonexistent").status_code == 404


def test_chunk_passage_for_source_cards(site):
    _, kb, _ = site
    chunk = kb.chunks_of(kb.documents()[0].doc_id)[0]
    assert _client(site).get(f"/ui/chunks/{chunk.chunk_id}").status_code == 401
    r = signed_in(site, "agent1").get(f"/ui/chunks/{chunk.chunk_id}")
    assert r.json()["text"] == chunk.text
    assert signed_in(site, "agent1").get("/ui/chunks/c_missing").status_code == 404


def test_widget_script_and_its_demo_host_page(site):
    client = _client(site)
    r = client.get("/widget.js")
    assert r.headers["content-type"].startswith("application/javascript")
    assert "/sidebar" in r.text and "打开知识助手" in r.text and "__STRINGS__" not in r.text
    assert "Open the assistant" in client.get("/widget.js?lang=en").text
    demo = client.get("/widget-demo")
    assert demo.status_code == 200 and '<script src="/widget.js"></script>' in demo.text


def test_static_assets_use_system_fonts_only(site):
    css = _client(site).get("/static/css/app.css").text
    assert '"Noto Sans CJK SC"' in css and "@import" not in css and "url(http" not in css
    assert ":focus-visible" in css


def _luminance(hex_colour: str) -> float:
    rgb = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_text_colours_have_at_least_4_5_to_1_contrast():
    css = (STATIC / "css" / "app.css").read_text(encoding="utf-8")
    var = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", css))
    pairs = [("fg", "bg"), ("muted", "bg"), ("muted", "panel"), ("fg", "panel"), ("primary", "bg"),
             ("primary-fg", "primary"), ("warn-fg", "warn-bg"), ("err-fg", "err-bg"), ("info-fg", "info-bg"),
             ("ok-fg", "ok-bg"), ("fg", "mark"), ("primary", "panel")]
    low = {f"{a} on {b}": round(contrast(var[a], var[b]), 2) for a, b in pairs if contrast(var[a], var[b]) < 4.5}
    assert not low, low
    assert contrast("#ffffff", "#102a43") >= 4.5  # header text


def test_every_control_on_every_page_has_a_label(site):
    client = signed_in(site, "admin1")
    pages = ["/sidebar", "/trainer/qasets", "/trainer/review", "/trainer/evals", "/trainer/dashboard",
             "/admin/documents", "/admin/users", "/admin/audit", "/admin/health"]
    for path in pages:
        r = client.get(path)
        assert r.status_code == 200, path
        assert not unlabelled_controls(r.text), path
        assert BeautifulSoup(r.text, "html.parser").html["lang"] == "zh-CN"
    assert not unlabelled_controls(_client(site).get("/login").text)
