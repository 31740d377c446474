"""Attacks through the API and the pages, each reproduced against the real app: personal numbers
in full-width digits and in file names, Q&A imports that stall the server, formula injection in
exports, feedback on someone else's reply, what /healthz and citations tell, a mistyped data dir."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest
from _api_support import build_kb, settings_for, start
from click.testing import CliRunner

from api.cli import main as cli

WIDE_MOBILE = "１３７５５６６７７８８"
WIDE_ID = "１１０１０５１９４９１２３１００２Ｘ"


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    settings = settings_for(tmp_path_factory.mktemp("secapi") / "data")
    build_kb(settings, {"repay.md":
                        "# 提前还款\n\n## 申请方式\n\n客户可以在App中申请提前还款，提前还款不收取违约金。\n"})
    with start(settings) as api:
        yield api


def _wait(api, job: dict) -> dict:
    import time

    for _ in range(600):
        job = api.client.get(f"/api/documents/jobs/{job['id']}", headers=api.auth("admin")).json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(job)


# -- item 1: full-width numbers everywhere text enters --------------------------------------------
def test_full_width_numbers_in_questions_and_feedback_are_stored_masked(api):
    r = api.client.post("/api/ask", json={"question": f"我的手机{WIDE_MOBILE}，身份证{WIDE_ID}，能提前还款吗？"},
                        headers=api.auth("agent"))
    assert r.status_code == 200 and "pii_masked" in r.json()["flags"]
    iid = r.json()["interaction_id"]
    fb = api.client.post("/api/feedback", json={"interaction_id": iid, "verdict": "edited",
                                                "edited_reply": f"已回电{WIDE_MOBILE}", "comment": f"客户证件{WIDE_ID}"},
                         headers=api.auth("agent"))
    assert fb.status_code == 201
    inter = api.records.get_interaction(iid)
    last = api.records.feedback_for(iid)[-1]
    stored = inter.question + inter.answer + (last.edited_reply or "") + (last.comment or "")
    assert WIDE_MOBILE not in stored and WIDE_ID not in stored and "13755667788" not in stored


def test_q_and_a_items_and_set_names_are_stored_masked(api):
    s = api.client.post("/api/qasets", json={"name": f"回访{WIDE_MOBILE}"}, headers=api.auth("trainer")).json()
    assert WIDE_MOBILE not in s["name"]
    item = api.client.post(f"/api/qasets/{s['id']}/items", headers=api.auth("trainer"), json={
        "question": f"身份证{WIDE_ID}能改吗", "reference_answer": f"请致电{WIDE_MOBILE}", "key_points": [WIDE_MOBILE]})
    assert item.status_code == 201
    text = str(item.json())
    assert WIDE_ID not in text and WIDE_MOBILE not in text


# -- item 7: an upload's name and original file ---------------------------------------------------
def test_an_upload_with_personal_numbers_is_masked_and_its_file_not_kept(api):
    body = "# 投诉记录\n\n客户手机13911223344来电投诉催收，已回访。\n"
    r = api.client.post("/api/documents", files={"file": ("投诉_13911223344.md", body.encode())},
                        headers=api.auth("admin"))
    assert r.status_code == 202 and "13911223344" not in r.json()["target"]
    job = _wait(api, r.json())
    assert job["status"] == "done" and job["result"]["kept_for_reingest"] is False
    docs = api.client.get("/api/documents", headers=api.auth("admin")).json()
    assert "13911223344" not in str(docs)
    uploads = Path(api.settings.data_dir) / "uploads"
    assert not any(b"13911223344" in p.read_bytes() or "13911223344" in p.name
                   for p in uploads.rglob("*") if p.is_file())
    events = api.records.audit_events(action="document.upload")
    assert "13911223344" not in str([(e.target, e.detail) for e in events])

    clean = api.client.post("/api/documents", files={"file": ("费率.md", "# 费率\n\n年化利率7.2%。\n".encode())},
                            headers=api.auth("admin"))
    assert _wait(api, clean.json())["result"]["kept_for_reingest"] is True
    assert (uploads / "费率.md").is_file()


# -- item 4: Q&A imports --------------------------------------------------------------------------
def _sheet(rows: int, far_cell: bool = False) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["id", "question", "key_points"])
    for i in range(rows):
        ws.append([f"q{i}", f"问题{i}", "要点"])
    if far_cell:
        ws.cell(row=rows + 1, column=16384, value="x")  # claims column XFD
        ws.cell(row=1_048_576, column=1, value=None)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_a_sheet_reaching_column_xfd_imports_only_its_columns(api):
    s = api.client.post("/api/qasets", json={"name": "wide"}, headers=api.auth("trainer")).json()
    r = api.client.post(f"/api/qasets/{s['id']}/import", files={"file": ("wide.xlsx", _sheet(3, far_cell=True))},
                        headers=api.auth("trainer"))
    assert r.status_code == 200 and r.json()["items"] == 3


def test_imports_are_capped_in_items_and_size(api):
    from evals.qaset import MAX_ITEMS

    s = api.client.post("/api/qasets", json={"name": "huge"}, headers=api.auth("trainer")).json()
    rows = "id,question,key_points\n" + "".join(f"q{i},问题{i},要点\n" for i in range(MAX_ITEMS + 1))
    r = api.client.post(f"/api/qasets/{s['id']}/import", files={"file": ("huge.csv", rows.encode())},
                        headers=api.auth("trainer"))
    assert r.status_code == 422 and "at most" in r.json()["detail"]
    assert api.client.get(f"/api/qasets/{s['id']}/items", headers=api.auth("trainer")).json() == []
    # the page import had no cap at all: an 11 MB sheet is refused (by the body cap) and adds nothing
    big = ("id,question,key_points\n" + "q,问题,要点\n" * 700_000).encode()
    assert len(big) > 10 << 20
    api.client.cookies.clear()
    r = api.client.post("/trainer/qasets/import", files={"file": ("big.csv", big)}, headers=api.auth("trainer"))
    assert r.status_code == 413
    assert not any(q.name == "big" for q in api.records.qasets())


def test_an_import_is_parsed_off_the_event_loop(api, monkeypatch):
    """While one import is being parsed, every other request is still answered."""
    import api.routers.qasets as qasets_router

    release = threading.Event()
    started = threading.Event()
    real = qasets_router.qa.parse_qaset

    def slow_parse(*args, **kwargs):
        started.set()
        release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(qasets_router.qa, "parse_qaset", slow_parse)
    s = api.client.post("/api/qasets", json={"name": "slow"}, headers=api.auth("trainer")).json()
    done = {}

    def importing():
        done["status"] = api.client.post(f"/api/qasets/{s['id']}/import",
                                         files={"file": ("s.xlsx", _sheet(2))}, headers=api.auth("trainer")).status_code

    t = threading.Thread(target=importing)
    t.start()
    try:
        assert started.wait(30)
        assert api.client.get("/healthz").status_code == 200
        still_parsing = t.is_alive()
    finally:
        release.set()
        t.join(60)
    assert still_parsing and done["status"] == 200


# -- item 11: formula injection in CSV exports -----------------------------------------------------
def test_csv_export_guards_formula_cells_and_imports_them_back_as_text(api):
    s = api.client.post("/api/qasets", json={"name": "formulas"}, headers=api.auth("trainer")).json()
    for q in ("=HYPERLINK(\"http://x\",\"点我\")", "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3"):
        api.client.post(f"/api/qasets/{s['id']}/items", headers=api.auth("trainer"),
                        json={"question": q, "key_points": ["=1+1"]})
    text = api.client.get(f"/api/qasets/{s['id']}/export?format=csv", headers=api.auth("trainer")).text
    import csv

    cells = [c for row in list(csv.reader(io.StringIO(text)))[1:] for c in row if c]
    assert cells and not any(c.startswith(("=", "+", "-", "@")) for c in cells)
    again = api.client.post("/api/qasets", json={"name": "formulas-back"}, headers=api.auth("trainer")).json()
    r = api.client.post(f"/api/qasets/{again['id']}/import", files={"file": ("f.csv", text.encode())},
                        headers=api.auth("trainer"))
    assert r.status_code == 200
    back = api.client.get(f"/api/qasets/{again['id']}/items", headers=api.auth("trainer")).json()
    assert {i["question"] for i in back} == {"=HYPERLINK(\"http://x\",\"点我\")", "+cmd|' /C calc'!A0", "@SUM(1+1)",
                                              "-2+3"}


# -- item 12: feedback only from the agent who asked -----------------------------------------------
def test_an_agent_cannot_judge_another_agents_reply(api):
    mine = api.records.create_key("agent-a", "agent")[1]
    theirs = api.records.create_key("agent-b", "agent")[1]
    iid = api.client.post("/api/ask", json={"question": "怎么提前还款？"},
                          headers={"Authorization": f"Bearer {mine}"}).json()["interaction_id"]
    other = api.client.post("/api/feedback", json={"interaction_id": iid, "verdict": "rejected"},
                            headers={"Authorization": f"Bearer {theirs}"})
    assert other.status_code == 403
    assert api.records.feedback_for(iid) == []
    own = api.client.post("/api/feedback", json={"interaction_id": iid, "verdict": "accepted"},
                          headers={"Authorization": f"Bearer {mine}"})
    assert own.status_code == 201


# -- item 13: what /healthz and citations tell ----------------------------------------------------
def test_healthz_tells_only_admins_more_than_ok(api):
    assert api.client.get("/healthz").json() == {"status": "ok"}
    assert api.client.get("/healthz", headers=api.auth("agent")).json() == {"status": "ok"}
    full = api.client.get("/healthz", headers=api.auth("admin")).json()
    assert full["status"] == "ok" and full["documents"] >= 1 and full["snapshot_id"]


def test_agents_see_no_server_paths_in_citations_or_search(api, tmp_path):
    from ingest.pipeline import ingest_paths

    folder = tmp_path / "srv" / "secret-share"
    folder.mkdir(parents=True)
    (folder / "逾期处理.md").write_text("# 逾期处理\n\n## 罚息\n\n逾期后按日万分之五计收罚息。\n", encoding="utf-8")
    job = api.app.state.jobs.run_on_writer(lambda: ingest_paths(api.app.state.kb, [folder], progress=False))
    assert job.result().ok
    for role in ("agent", "trainer"):
        r = api.client.post("/api/ask", json={"question": "逾期罚息怎么算？"}, headers=api.auth(role)).json()
        s = api.client.post("/api/search", json={"query": "逾期罚息"}, headers=api.auth(role)).json()
        sources = [c["source"] for c in r["citations"]] + [x["source"] for x in s["results"]]
        assert "逾期处理.md" in sources and not any(str(tmp_path) in x or "/" in x for x in sources), sources
    admin = api.client.post("/api/search", json={"query": "逾期罚息"}, headers=api.auth("admin")).json()
    assert any(str(folder) in x["source"] for x in admin["results"])


# -- item 14: read-only commands and a mistyped data dir -------------------------------------------
@pytest.mark.parametrize("args", [["stats"], ["search", "提前还款"], ["ask", "提前还款"], ["docs", "list"],
                                  ["keys", "list"], ["users", "list"]])
def test_read_only_commands_refuse_a_data_dir_that_does_not_exist(tmp_path, args):
    typo = tmp_path / "dtaa"
    result = CliRunner().invoke(cli, [*args, "--data-dir", str(typo)])
    assert result.exit_code == 2 and "no " in result.output and "--data-dir" in result.output
    assert not typo.exists()
