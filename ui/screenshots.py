"""Screenshots of the UI for the docs: `python -m ui.screenshots [--out docs/images]`.

Builds a throw-away site from the bundled demo documents (bundles/demo/documents), starts the real server and does
real work through its API before photographing anything: agents ask questions (POST /api/ask) and
give their verdict on each reply (POST /api/feedback), and a trainer runs a small Q&A set three
times (POST /api/evals) — before and after a held-back document is uploaded (POST /api/documents)
and after two items are added to the set; agents record complaints from their conversations and handle
them (POST /api/complaints…), a trainer promotes one into a past case and spot-checks a sample of
conversations. Every number on the dashboards comes from that work (and the sidebar's own
question); nothing is written into the records database by hand. Then Chromium photographs the
sidebar (zh-CN and en, and with a complaint being recorded), the trainer dashboard, the admin
documents page, a complaint's page, the service KPI dashboard and the offline pack searched from
disk. Takes two or three minutes."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from ui.demo_site import PASSWORD, USERS, build_site, serve

ROOT = Path(__file__).resolve().parent.parent
DEMO_DOCS = ROOT / "bundles" / "demo" / "documents"
DEMO_BUNDLES = "credit_cs,regulations_zh,lay_questions_zh,demo"  # the demo bundle brings its complaint rules
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
QUESTION = "随心贷提前还款要收手续费吗？"
HELD_BACK = "procedures/credit_objection.md"  # uploaded through the API between the first and second run
SET_NAME = "demo-smoke"
TIMEOUT = 300.0  # seconds for one ingest job or evaluation run

# Questions agents ask through POST /api/ask: (question, kind filter, what a correct reply must say,
# the reply the agent sends instead when the suggestion misses something). An empty list means the
# knowledge base has no answer and abstaining is right. The agent's verdict is decided from the real
# suggested reply (see _verdict), never fixed in advance.
ASKS: list[tuple[str, str | None, list[str], str]] = [
    ("随心贷的年化利率是多少？", "product", ["7.2%", "18%"], "随心贷的年化利率（单利）为7.2%–18%，以借款合同为准。"),
    ("车主贷借了3期就想全部结清，要收手续费吗？", "product", ["2%"],
     "车主贷未满6期提前结清的，按提前归还本金的2%收取手续费。"),
    ("乐享分期提前还款收手续费吗？", "product", ["不收取提前还款手续费"], "乐享分期可随时提前结清，不收取提前还款手续费。"),
    ("薪享贷最多能借多少钱？", "product", ["300,000元"], "薪享贷的借款额度为10,000元至300,000元。"),
    ("客户投诉以后多久会有人联系？", "procedure", ["24小时"], "收到投诉后24小时内首次响应，告知工单号和处理人。"),
    ("催收电话一天最多能打几次？", "procedure", ["3次"], "电话联系客户本人每天不超过3次，短信每天不超过2条。"),
    ("客户忘记登录密码怎么重置？", "procedure", ["忘记密码"], "在App登录页点击“忘记密码”，验证手机号和人脸后设置新密码。"),
    ("征信上的逾期记录能花钱删掉吗？", None, ["不能"], "真实的逾期记录不能删除，所谓“征信修复”都是骗局。"),
    ("有人冒充你们公司让我交解冻费，是真的吗？", None, ["解冻费"], "公司放款前不收取任何“解冻费”，请不要转账。"),
    ("你们公司的食堂几点开饭？", None, [], ""),
]


# Complaints agents record from their conversations: (the customer's words, the result told to the
# customer — None while the department works on it —, the follow-up call's outcome)
COMPLAINTS: list[tuple[str, str | None, str | None]] = [
    ("随心贷提前还款收了我2%的手续费，合同上根本没写，我要投诉，要求退还手续费！",
     "核实客户借款适用的产品说明：未满6期提前还款按提前归还本金的2%收取手续费，已向客户出示合同条款并说明可申请复核。",
     "not_satisfied"),
    ("催收员天天打电话到我单位，还跟我同事说我欠钱不还，我要投诉！",
     "核实后确认催收员违规向客户同事透露欠款信息，已对催收员处罚并停止联系第三人，向客户致歉。", "satisfied"),
    ("征信上有一笔我不认识的逾期记录，你们必须给我删掉，不然我就找人民银行投诉！", None, None),
]
COMPLAINT_QUESTION = "你们乱收费，多扣了我200元利息，我要投诉！"  # asked in the complaint screenshot


def _item(iid: str, question: str, key_points: list[str], title: str, section: str, topic: str) -> dict[str, Any]:
    return {"id": iid, "question": question, "key_points": key_points,
            "expected_sources": [{"title": title, "section": section}], "topic": topic, "author": "screenshots"}


def qaset_yaml() -> str:
    """The small Q&A set the trainer imports (docs/evaluation.md describes the format). Two items
    are about the held-back document, so the first run cannot get them right."""
    items = [
        _item("smoke-01", "随心贷年化利率多少", ["7.2%", "18%"], "随心贷产品说明", "利率与费用", "利率与费用"),
        _item("smoke-02", "车主贷未满6期提前结清要手续费吗", ["2%"], "车主贷产品说明", "提前还款", "提前还款"),
        _item("smoke-03", "乐享分期能提前还吗，收不收手续费", ["不收取提前还款手续费"], "乐享分期产品说明",
              "提前还款", "提前还款"),
        _item("smoke-04", "客户投诉一般几个工作日办结", ["7个工作日"], "客户投诉处理流程", "受理时限", "投诉"),
        _item("smoke-05", "催收可以在几点之间联系客户", ["8:00", "21:00"], "催收行为规范", "联系时间与频率", "催收"),
        _item("smoke-06", "客户提交征信异议后多久能有核查结果", ["10个工作日"], "征信异议处理流程", "核查与答复",
              "征信"),
        _item("smoke-07", "客户说借款是被人冒名借的，调查要多久", ["20个工作日"], "征信异议处理流程",
              "被冒名借款", "征信"),
        {"id": "smoke-08", "question": "你们公司年会在哪里办", "answerable": False, "topic": "无依据",
         "author": "screenshots"},
    ]
    return yaml.safe_dump({"name": SET_NAME, "description": "截图脚本的小型评测集（演示知识库）", "items": items},
                          allow_unicode=True, sort_keys=False)


# Added through POST /api/qasets/{id}/items before the third run.
MORE_ITEMS = [
    {"question": "薪享贷的年化利率是多少", "key_points": ["5.8%", "14.8%"], "topic": "利率与费用",
     "expected_sources": [{"title": "薪享贷产品说明", "section": "利率与费用"}]},
    {"question": "换了新手机登录后能借多少", "key_points": ["5,000元"], "topic": "账户安全",
     "expected_sources": [{"title": "账户安全与防诈骗指引", "section": "设备绑定"}]},
]


def _docs() -> dict[str, str]:
    files = sorted(DEMO_DOCS.glob("*/*.md"))
    if not files:
        raise RuntimeError(f"the demo documents are missing from {DEMO_DOCS.relative_to(ROOT)}")
    return {f"{p.parent.name}-{p.name}": p.read_text(encoding="utf-8") for p in files}


def _keys(data_dir: Path) -> dict[str, str]:
    """One API key per demo user (what `citedesk keys create` does); {role: raw key}."""
    from kb.records import Records
    from kb.settings import Settings

    records = Records.open(Settings(data_dir=data_dir))
    try:
        return {role: records.create_key(f"screenshots-{role}", role,
                                         user_id=records.get_user_by_name(name).id)[1]
                for role, name in USERS.items()}
    finally:
        records.close()


def _verdict(answer: dict[str, Any], must_say: list[str]) -> str:
    """The agent's verdict on a real reply: an abstention is right only when there is no answer;
    a reply that misses something it must say gets edited."""
    if not must_say:
        return "accepted" if answer["abstained"] else "rejected"
    if answer["abstained"]:
        return "rejected"
    return "accepted" if all(s in answer["answer"] for s in must_say) else "edited"


def _wait(client: httpx.Client, url: str) -> dict[str, Any]:
    """Poll an ingest job or an evaluation run until it is done."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        body = client.get(url).raise_for_status().json()
        if body["status"] == "done":
            return body
        if body["status"] == "failed" or time.monotonic() > deadline:
            raise RuntimeError(f"{url}: {body['status']} {body.get('error') or ''}".strip())
        time.sleep(0.5)


def _client(base: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120)


def seed_through_api(base: str, keys: dict[str, str], held_back: Path, work: Path) -> list[dict[str, Any]]:
    """Real questions, feedback and evaluation runs through the running server's API; returns the
    finished runs."""
    with _client(base, keys["agent"]) as agent:
        for question, kind, must_say, corrected in ASKS:
            answer = agent.post("/api/ask", json={"question": question, "kind": kind}).raise_for_status().json()
            verdict = _verdict(answer, must_say)
            body: dict[str, Any] = {"interaction_id": answer["interaction_id"], "verdict": verdict}
            if verdict == "edited":
                body["edited_reply"] = corrected
            agent.post("/api/feedback", json=body).raise_for_status()
    runs = []
    with _client(base, keys["trainer"]) as trainer, _client(base, keys["admin"]) as admin:
        qaset = trainer.post("/api/qasets", json={"name": SET_NAME, "description": "截图脚本的小型评测集"})
        qid = qaset.raise_for_status().json()["id"]
        path = work / f"{SET_NAME}.yaml"
        path.write_text(qaset_yaml(), encoding="utf-8")
        trainer.post(f"/api/qasets/{qid}/import", files={"file": (path.name, path.read_bytes(), "application/yaml")}
                     ).raise_for_status()

        def run() -> None:
            started = trainer.post("/api/evals", json={"qaset_id": qid}).raise_for_status().json()
            runs.append(_wait(trainer, f"/api/evals/{started['id']}"))

        run()  # 1: without the held-back document
        job = admin.post("/api/documents", files={"file": (held_back.name, held_back.read_bytes(), "text/markdown")})
        _wait(admin, f"/api/documents/jobs/{job.raise_for_status().json()['id']}")
        run()  # 2: the document is in the knowledge base
        for item in MORE_ITEMS:
            trainer.post(f"/api/qasets/{qid}/items", json=item).raise_for_status()
        run()  # 3: two more items
    return runs


def seed_complaints(base: str, keys: dict[str, str]) -> int:
    """Complaints recorded, handled and one promoted into a past case through the API, and a spot
    check graded from the agents' own verdicts; returns the id of the first complaint."""
    ids = []
    with _client(base, keys["agent"]) as agent:
        for words, resolution, outcome in COMPLAINTS:
            asked = agent.post("/api/ask", json={"question": words}).raise_for_status().json()
            draft = agent.post("/api/complaints/draft", json={"interaction_id": asked["interaction_id"]})
            d = draft.raise_for_status().json()
            body = {k: d[k] for k in ("narrative", "request", "topic", "product", "amount", "signals", "procedure_step",
                                      "procedure_source")}
            c = agent.post("/api/complaints", json={**body, "interaction_id": asked["interaction_id"]})
            cid = c.raise_for_status().json()["id"]
            ids.append(cid)
            if resolution is None:
                continue
            agent.post(f"/api/complaints/{cid}/route", json={}).raise_for_status()
            done = agent.post(f"/api/complaints/{cid}/resolve", json={"resolution": resolution}).raise_for_status()
            call = done.json()["followup"]["id"]
            agent.post(f"/api/followups/{call}", json={"outcome": outcome}).raise_for_status()
            agent.post(f"/api/complaints/{cid}/close").raise_for_status()
    with _client(base, keys["trainer"]) as trainer:
        case = trainer.get(f"/api/complaints/{ids[1]}/case").raise_for_status().json()
        trainer.post(f"/api/complaints/{ids[1]}/case", json={"customer_issue": case["customer_issue"],
                                                             "resolution": case["resolution"]}).raise_for_status()
        for spot in trainer.post("/api/spotchecks", json={"size": 6, "seed": 1}).raise_for_status().json():
            asked = next((q for q in ASKS if q[0] == spot["question"]), None)
            right = asked is not None and (not asked[2] or all(s in spot["answer"] for s in asked[2]))
            trainer.put(f"/api/spotchecks/{spot['id']}", json={"accurate": right, "complete": right, "polite": True,
                                                               "compliant": True}).raise_for_status()
    return ids[0]


def take(out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    shots: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="citedesk-shots-") as tmp:
        data_dir = Path(tmp) / "data"
        docs = _docs()
        held_back = Path(tmp) / Path(HELD_BACK).name
        held_back.write_text(docs.pop(HELD_BACK.replace("/", "-")), encoding="utf-8")
        build_site(data_dir, docs)
        keys = _keys(data_dir)
        _teams(data_dir)
        with serve(data_dir, env={"CITEDESK_BUNDLES": DEMO_BUNDLES}) as base, sync_playwright() as pw:
            for r in seed_through_api(base, keys, held_back, Path(tmp)):
                print(f"eval run {r['id']} ({r['set_name']}): accuracy {r['overall'].get('accuracy')}",
                      file=sys.stderr)
            first_complaint = seed_complaints(base, keys)
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
            for lang, name in (("zh-CN", "sidebar-zh.png"), ("en", "sidebar-en.png")):
                ctx = browser.new_context(base_url=base, viewport={"width": 400, "height": 1000},
                                          locale=lang)
                ctx.add_cookies([{"name": "lang", "value": lang, "url": base}])
                page = ctx.new_page()
                _sign_in(page, "agent1")
                page.fill("#question", QUESTION)
                page.press("#question", "Control+Enter")
                page.wait_for_selector("#result:not([hidden])", timeout=120_000)
                if page.locator("#reply .chip").count():
                    page.locator("#reply .chip").first.click()
                page.wait_for_timeout(600)
                page.evaluate("window.scrollTo(0, 0)")
                shots.append(_shot(page, out / name, full=True))
                ctx.close()
            ctx = browser.new_context(base_url=base, viewport={"width": 1200, "height": 900}, locale="zh-CN")
            page = ctx.new_page()
            _sign_in(page, "admin1")
            page.goto("/trainer/dashboard")
            shots.append(_shot(page, out / "trainer-dashboard.png", full=True))
            page.goto("/admin/documents")
            shots.append(_shot(page, out / "admin-documents.png", full=True))
            ctx.close()
            shots += _complaint_shots(browser, base, out, first_complaint, keys, Path(tmp))
            browser.close()
    return shots


def _teams(data_dir: Path) -> None:
    """The agent's team (what `citedesk users team agent1 一组` does)."""
    from kb.records import Records
    from kb.settings import Settings

    records = Records.open(Settings(data_dir=data_dir))
    try:
        records.set_team(USERS["agent"], "一组")
    finally:
        records.close()


def _complaint_shots(browser, base: str, out: Path, complaint_id: int, keys: dict[str, str], work: Path) -> list[Path]:
    """The sidebar recording a complaint, a complaint's page, the service KPIs, the offline pack."""
    shots = []
    ctx = browser.new_context(base_url=base, viewport={"width": 400, "height": 1000}, locale="zh-CN")
    page = ctx.new_page()
    _sign_in(page, "agent1")
    page.fill("#question", COMPLAINT_QUESTION)
    page.press("#question", "Control+Enter")
    page.wait_for_selector("#result:not([hidden])", timeout=120_000)
    page.click("#record-complaint")
    page.wait_for_selector("#complaint-form:not([hidden])")
    page.evaluate("window.scrollTo(0, 0)")
    shots.append(_shot(page, out / "sidebar-complaint.png", full=True))
    ctx.close()
    ctx = browser.new_context(base_url=base, viewport={"width": 1200, "height": 900}, locale="zh-CN")
    page = ctx.new_page()
    _sign_in(page, USERS["supervisor"])
    page.goto(f"/complaints/{complaint_id}")
    shots.append(_shot(page, out / "complaint-page.png", full=True))
    page.goto("/service?period=day&by=topic")
    shots.append(_shot(page, out / "service-kpis.png", full=True))
    ctx.close()
    with _client(base, keys["agent"]) as agent:
        pack = work / "citedesk-offline-pack.html"
        pack.write_bytes(agent.get("/api/offline-pack").raise_for_status().content)
    ctx = browser.new_context(viewport={"width": 1000, "height": 800}, locale="zh-CN", offline=True)
    page = ctx.new_page()
    page.goto(pack.as_uri())
    page.fill("#q", "提前还款要收手续费吗")
    page.press("#q", "Enter")
    page.wait_for_selector("#results li")
    shots.append(_shot(page, out / "offline-pack.png"))
    ctx.close()
    return shots


def _sign_in(page, username: str) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url("**/sidebar")


def _shot(page, path: Path, full: bool = False) -> Path:
    page.screenshot(path=str(path), full_page=full)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images", help="folder for the PNG files")
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print("error: /usr/bin/chromium is missing (apt-get install chromium fonts-noto-cjk)", file=sys.stderr)
        return 2
    for path in take(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
