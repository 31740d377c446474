"""Server-rendered pages (ui.routes): sign-in, role guards, the sidebar, the document view, the
widget, trainer and admin pages — over a real knowledge base and a real records database."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.testclient import TestClient
from openpyxl import Workbook
from starlette.middleware.sessions import SessionMiddleware

from api.ratelimit import LoginGuard, make_storage
from kb.knowledge import KnowledgeBase
from kb.records import Records
from kb.settings import Settings, get_settings
from ui.demo_site import PASSWORD, build_site
from ui.routes import router
from ui.routes.common import safe_next

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


# -- trainer pages -----------------------------------------------------------------------------
def test_trainer_creates_a_set_adds_and_edits_an_item(site):
    _, _, records = site
    client = signed_in(site, "trainer1")
    token = _csrf(client.get("/trainer/qasets").text)
    r = client.post("/trainer/qasets", data={"name": "ui-set", "description": "from the page", "csrf": token})
    qid = int(r.headers["location"].rsplit("/", 1)[1])
    client.post(f"/trainer/qasets/{qid}/items", data={"csrf": token, "question": "提前还款收费吗？",
                                                     "reference_answer": "不收取违约金。", "key_points": "满3期\n不收违约金",
                                                     "answerable": "1"})
    [item] = records.items(qid)
    assert item.key_points == ["满3期", "不收违约金"] and item.author == "trainer1"
    client.post(f"/trainer/qasets/{qid}/items", data={"csrf": token, "item_id": item.id, "question": "提前还款要钱吗？",
                                                     "reference_answer": "不要。"})
    assert records.items(qid)[0].question == "提前还款要钱吗？"
    page = client.get(f"/trainer/qasets/{qid}").text
    assert "提前还款要钱吗？" in page and not unlabelled_controls(page)
    r = client.post("/trainer/qasets", data={"name": "ui-set", "csrf": token})
    assert "error=" in r.headers["location"]  # a duplicate name comes back as a message
    assert client.post("/trainer/qasets", data={"name": "forged"}).status_code == 403


def test_trainer_imports_csv_and_xlsx_sheets(site):
    _, _, records = site
    client = signed_in(site, "trainer1")
    token = _csrf(client.get("/trainer/qasets").text)
    sheet = "id,question,reference_answer,key_points,topic\nq1,逾期罚息怎么算？,按借款利率的1.5倍按日计收。,1.5倍|按日,逾期\n"
    r = client.post("/trainer/qasets/import", data={"csrf": token, "name": "imported"},
                    files={"file": ("sheet.csv", sheet.encode("utf-8"), "text/csv")})
    qid = int(r.headers["location"].rsplit("/", 1)[1])
    [item] = records.items(qid)
    assert item.key_points == ["1.5倍", "按日"] and item.topic == "逾期"
    wb = Workbook()
    wb.active.append(["id", "question", "reference_answer", "key_points", "topic"])
    wb.active.append(["x1", "冷静期多久？", "7天。", "7天", "合同"])
    buf = io.BytesIO()
    wb.save(buf)
    r = client.post("/trainer/qasets/import", data={"csrf": token, "name": "from-xlsx"},
                    files={"file": ("sheet.xlsx", buf.getvalue(), "application/octet-stream")})
    [item] = records.items(int(r.headers["location"].rsplit("/", 1)[1]))
    assert (item.question, item.key_points, item.topic) == ("冷静期多久？", ["7天"], "合同")
    bad = client.post("/trainer/qasets/import", data={"csrf": token},
                      files={"file": ("notes.txt", b"hello", "text/plain")})
    assert "error=" in bad.headers["location"]
    assert not any(s.name == "notes" for s in records.qasets())


def test_trainer_imports_a_yaml_set_and_can_export_it_as_yaml(site):
    _, _, records = site
    client = signed_in(site, "trainer1")
    page = client.get("/trainer/qasets").text
    accept = BeautifulSoup(page, "html.parser").find("input", id="imp-file")["accept"]
    assert ".yaml" in accept and ".csv" in accept
    token = _csrf(page)
    text = ("name: yaml-set\ndescription: 自带格式\nitems:\n"
            "- id: y-1\n  question: 逾期罚息怎么算？\n  reference_answer: 按借款利率的1.5倍按日计收。\n"
            "  key_points: [1.5倍, 按日]\n  expected_sources: [{title: 逾期处理, section: 罚息}]\n  topic: 逾期\n"
            "- id: y-2\n  question: 火星天气如何？\n  answerable: false\n")
    r = client.post("/trainer/qasets/import", data={"csrf": token},
                    files={"file": ("set.yaml", text.encode("utf-8"), "application/yaml")})
    qid = int(r.headers["location"].rsplit("/", 1)[1])
    assert records.get_qaset(qid).name == "yaml-set"  # the name inside the file
    first, second = records.items(qid)
    assert first.key_points == ["1.5倍", "按日"] and first.expected_sources == [{"title": "逾期处理", "section": "罚息"}]
    assert second.answerable is False
    set_page = BeautifulSoup(client.get(f"/trainer/qasets/{qid}").text, "html.parser")
    assert set_page.find("a", href=f"/api/qasets/{qid}/export?format=yaml") is not None
    # a YAML file with a bad item adds no set at all
    broken = "name: broken-set\nitems:\n- id: b-1\n  answerable: maybe\n"
    bad = client.post("/trainer/qasets/import", data={"csrf": token},
                      files={"file": ("broken.yml", broken.encode("utf-8"), "application/yaml")})
    assert "error=" in bad.headers["location"]
    assert not any(s.name == "broken-set" for s in records.qasets())


def test_review_queue_puts_rejected_and_edited_first_and_promotes(site):
    _, _, records = site
    answer = {"question": "可以提前还款吗？", "answer": "借款满3期后可以申请提前还款[1]。",
              "citations": [{"n": 1, "chunk_id": "c_1", "title": "随心贷产品说明", "section": "提前还款"}]}
    ok = records.save_interaction(answer, kind="product")
    rej = records.save_interaction({**answer, "question": "被驳回的问题"})
    edi = records.save_interaction({**answer, "question": "被修改的问题"})
    records.add_feedback(ok, "accepted")
    records.add_feedback(rej, "rejected")
    records.add_feedback(edi, "edited", edited_reply="借款满3期后可提前还款，不收违约金。")
    client = signed_in(site, "trainer1")
    page = client.get("/trainer/review").text
    order = [int(a["id"].split("-")[1]) for a in BeautifulSoup(page, "html.parser").select("article.card")]
    assert order.index(rej) < order.index(edi) < order.index(ok)
    assert "借款满3期后可提前还款，不收违约金。" in page  # the edited reply is the proposed correction
    token = _csrf(page)
    r = client.post(f"/trainer/review/{ok}/promote", data={
        "csrf": token, "grade": "partial", "corrected": "满3期后可以提前还款，不收违约金。",
        "key_points": "满3期\n无违约金", "new_set": "promoted-set", "confirmed": "1"})
    assert "promoted=promoted-set" in r.headers["location"]
    qset = next(s for s in records.qasets() if s.name == "promoted-set")
    [item] = records.items(qset.id)
    assert item.reference_answer == "满3期后可以提前还款，不收违约金。" and item.key_points == ["满3期", "无违约金"]
    assert item.source_interaction_id == ok and item.grades[0]["grade"] == "partial"
    assert item.expected_sources == [{"title": "随心贷产品说明", "section": "提前还款", "chunk_id": "c_1"}]


def test_promoting_needs_a_chosen_grade_and_a_confirmed_reference(site):
    _, _, records = site
    answer = {"question": "逾期多久会上征信？", "answer": "逾期超过30天可能上报征信[1]。",
              "citations": [{"n": 1, "chunk_id": "c_9", "doc_id": "overdue", "title": "逾期处理",
                             "section": "征信", "quote": "逾期超过30天可能上报征信。"}]}
    it = records.save_interaction(answer, kind="product")
    client = signed_in(site, "trainer1")
    page = client.get("/trainer/review").text
    card = BeautifulSoup(page, "html.parser").find("article", id=f"interaction-{it}")
    # no grade is chosen for the trainer; the cited source and its quote stand beside the reply
    grade = card.find("select", attrs={"name": "grade"})
    assert grade.has_attr("required") and grade.find("option", selected=True)["value"] == ""
    source = card.select_one(".review-sources .source")
    assert "逾期处理" in source.text and "征信" in source.text and source.find("mark").text == "逾期超过30天可能上报征信。"
    assert source.find("a")["href"] == "/documents/overdue#chunk-c_9"
    assert card.find("input", attrs={"name": "confirmed", "type": "checkbox"}).has_attr("required")
    token = _csrf(page)
    form = {"csrf": token, "corrected": "逾期超过30天可能上报征信。", "new_set": "unconfirmed-set"}
    refused = [
        ({**form, "confirmed": "1"}, "请先给这条答复评分"),                       # no grade
        ({**form, "grade": "correct"}, "请核对参考答案并勾选确认"),                # not confirmed
        ({**form, "grade": "wrong", "confirmed": "1"}, "评为错误的答复不能原样作为参考答案"),
    ]
    for data, message in refused:
        r = client.post(f"/trainer/review/{it}/promote", data=data)
        assert r.status_code == 303 and "error=" in r.headers["location"]
        assert message in client.get(r.headers["location"]).text
    assert all(s.name != "unconfirmed-set" for s in records.qasets())  # nothing was stored
    r = client.post(f"/trainer/review/{it}/promote", data={**form, "grade": "correct", "confirmed": "1"})
    assert "promoted=unconfirmed-set" in r.headers["location"]
    qset = next(s for s in records.qasets() if s.name == "unconfirmed-set")
    [item] = records.items(qset.id)
    assert item.grades[0]["grade"] == "correct" and item.reference_answer == "逾期超过30天可能上报征信。"


def test_eval_report_and_dashboard_chart(site):
    _, _, records = site
    for score in (0.6, 0.8):
        records.save_eval_run({"overall": {"accuracy": score}, "per_topic": {"逾期": {"accuracy": score}},
                               "per_question": [{"question": "逾期罚息？", "topic": "逾期", "accuracy": score}]},
                              "demo-set")
    run = records.eval_runs(set_name="demo-set")[0]
    client = signed_in(site, "trainer1")
    report = client.get(f"/trainer/evals/{run.id}").text
    assert "逾期罚息？" in report and "0.800" in report
    evals_page = client.get("/trainer/evals").text
    assert f'data-run="{run.id}"' in evals_page and "80.0%" in evals_page
    dash = client.get("/trainer/dashboard?lang=en").text
    svg = BeautifulSoup(dash, "html.parser").find("svg")
    assert svg is not None and svg.find("polyline")["data-series"] == "demo-set"
    assert "Accepted" in dash and "kind: product" in dash


# -- admin pages -------------------------------------------------------------------------------
def test_admin_documents_and_index_health(site):
    _, kb, _ = site
    client = signed_in(site, "admin1")
    soup = BeautifulSoup(client.get("/admin/documents").text, "html.parser")
    rows = {tr["data-doc-id"]: tr for tr in soup.select("#documents tbody tr")}
    assert set(rows) == {d.doc_id for d in kb.documents()}
    doc = next(d for d in kb.documents() if d.title == "随心贷产品说明")
    cells = [td.text.strip() for td in rows[doc.doc_id].find_all("td")]
    assert "2026.2" in cells and str(doc.chunk_count) in cells and "有效" in cells
    assert soup.find("progress", id="upload-progress") is not None
    health = client.get("/admin/health").text
    assert str(kb.stats()["snapshot_id"]) in health


def test_admin_creates_users_and_keys_shown_once_and_revokes(site):
    _, _, records = site
    client = signed_in(site, "admin1")
    token = _csrf(client.get("/admin/users").text)
    r = client.post("/admin/users", data={"csrf": token, "username": "agent2", "role": "agent",
                                          "password": "long-enough-1"})
    assert r.status_code == 200 and records.authenticate("agent2", "long-enough-1") is not None
    short = client.post("/admin/users", data={"csrf": token, "username": "agent3", "role": "agent", "password": "x"})
    assert short.status_code == 422 and records.get_user_by_name("agent3") is None
    r = client.post("/admin/keys", data={"csrf": token, "name": "crm", "role": "agent"})
    raw = BeautifulSoup(r.text, "html.parser").find(id="new-key").text.strip()
    assert records.key_for(raw) is not None
    assert raw not in client.get("/admin/users").text  # shown once
    key = next(k for k in records.keys() if k.name == "crm")
    client.post(f"/admin/keys/{key.id}/revoke", data={"csrf": token})
    assert records.key_for(raw) is None
    audit = client.get("/admin/audit?action=key.revoke").text
    assert key.prefix in audit and "user.add" not in audit
    assert "请填写日期，例如 2026-01-31" in client.get("/admin/audit?since=yesterday").text  # a bad date explains itself
    assert re.search(r"agent2", client.get("/admin/audit?actor=admin1&action=user.add").text)
