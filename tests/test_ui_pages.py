"""Server-rendered pages (ui.routes): the trainer's and admin's pages — Q&A sets, the review queue,
evaluations, documents, users and keys — over a real knowledge base and a real records database."""

from __future__ import annotations

import io
import re

from bs4 import BeautifulSoup
from openpyxl import Workbook

from tests._ui_support import _csrf, signed_in, site, unlabelled_controls  # noqa: F401 - site is a fixture


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
    assert "逾期罚息？" in report and "80.0%" in report  # a rate as a percentage
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
