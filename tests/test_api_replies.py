"""What an agent may send, over HTTP: product rules named per product, a product the knowledge base
does not have left unanswered until it is uploaded, the agent's guidance apart from the reply, and
statutes answered in a few sentences rather than quoted whole."""

from __future__ import annotations

import re

import pytest
from _api_support import build_kb, settings_for, start
from test_api_documents import upload, wait_job


def _product(name: str, fee: str, rate: str, overdue: str = "") -> str:
    return (f"---\ntitle: {name}产品说明\nkind: product\nproduct: {name}\nversion: \"2026.1\"\n"
            f"effective_date: 2026-01-01\n---\n# {name}产品说明\n\n## 利率与费用\n\n{rate}\n\n"
            f"## 提前还款\n\n{fee}\n" + (f"\n## 逾期\n\n{overdue}\n" if overdue else ""))


DOCS = {
    "yuandai.md": _product("远航贷", "远航贷借款满3期后提前还款免收手续费，未满3期的按提前归还本金的1%收取手续费。",
                           "远航贷的年化利率为7.2%至18%，以借款合同为准。", "远航贷逾期后按合同利率上浮50%计收罚息。"),
    "mingdai.md": _product("明月贷", "明月贷借款满12期后提前还款免收手续费，未满12期的按提前归还本金的1.5%收取手续费。",
                           "明月贷的年化利率为5.8%至14.8%，以借款合同为准。", "明月贷逾期后按合同利率上浮30%计收罚息。"),
    "fenqi.md": _product("星光分期", "星光分期可随时提前结清，不收取提前还款手续费。",
                         "星光分期的年化利率为9.6%至17.9%，下单页面展示每期应还金额。"),
    "complaint.md": "---\ntitle: 客户投诉处理流程\nkind: procedure\n---\n# 客户投诉处理流程\n\n## 坐席处理步骤\n\n"
                    "接到投诉后先安抚情绪：对客户的感受表示理解，不打断、不争辩。核实身份后完整记录投诉内容，并告知客户24小时内会有专人联系。\n",
    "guarantee.md": "---\ntitle: 中华人民共和国民法典 合同编\nkind: regulation\n---\n# 第十三章 保证合同\n\n"
                    "## 第六百八十六条\n\n第六百八十六条 保证的方式包括一般保证和连带责任保证。当事人在保证合同中对保证方式没有约定"
                    "或者约定不明确的，按照一般保证承担保证责任。\n\n"
                    "## 第六百八十七条\n\n第六百八十七条 当事人在保证合同中约定，债务人不能履行债务时，由保证人承担保证责任的，"
                    "为一般保证。一般保证的保证人在主合同纠纷未经审判或者仲裁，并就债务人财产依法强制执行仍不能履行债务前，"
                    "有权拒绝向债权人承担保证责任，但是有下列情形之一的除外：（一）债务人下落不明，且无财产可供执行；"
                    "（二）人民法院已经受理债务人破产案件；（三）债权人有证据证明债务人的财产不足以履行全部债务或者丧失履行债务能力；"
                    "（四）保证人书面表示放弃本款规定的权利。\n\n"
                    "## 第六百八十八条\n\n第六百八十八条 当事人在保证合同中约定保证人和债务人对债务承担连带责任的，为连带责任保证。"
                    "连带责任保证的债务人不履行到期债务或者发生当事人约定的情形时，债权人可以请求债务人履行债务，"
                    "也可以请求保证人在其保证范围内承担保证责任。\n",
}
PRODUCTS = ("远航贷", "明月贷", "星光分期")


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    settings = settings_for(tmp_path_factory.mktemp("replies") / "data")
    build_kb(settings, DOCS)
    with start(settings) as api:
        yield api


def ask(api, question: str) -> dict:
    resp = api.client.post("/api/ask", json={"question": question}, headers=api.auth("agent"))
    assert resp.status_code == 200, resp.text
    return resp.json()


def cited(body: dict, text: str) -> list[dict]:
    numbers = {int(n) for n in re.findall(r"\[(\d+)\]", text)}
    return [c for c in body["citations"] if c["n"] in numbers]


def test_a_fee_that_differs_per_product_is_given_per_product_each_named(api):
    body = ask(api, "提前还款要收手续费吗？")
    assert not body["abstained"]
    reply = body["reply"]
    # one line per product in force, each naming its product and citing that product's document
    for name in PRODUCTS:
        line = next((ln for ln in reply.splitlines() if name in ln), None)
        assert line is not None, f"{name} missing from {reply!r}"
        assert [c["title"] for c in cited(body, line)] == [f"{name}产品说明"]
    assert "1.5%" in reply and "1%" in reply
    # the agent is told to ask which product the customer holds when unsure
    assert any("您办理的是哪款产品" in g for g in body["guidance"])


def test_a_rule_some_products_lack_is_answered_by_asking_which_product(api):
    """Two products state a penalty rate, the third none: the reply asks which product the customer
    holds rather than quote two rules that may both be wrong for them; the agent sees both, named."""
    body = ask(api, "逾期了罚息怎么算？")
    assert not body["abstained"]
    assert "您办理的是哪款产品" in body["reply"] and "%" not in body["reply"]
    lines = [g for g in body["guidance"] if "罚息" in g]
    assert any(g.startswith("远航贷") and "50%" in g for g in lines)
    assert any(g.startswith("明月贷") and "30%" in g for g in lines)
    assert all(c["part"] == "guidance" for c in body["citations"])


def test_a_question_naming_its_product_gets_that_products_rules_alone(api):
    body = ask(api, "明月贷提前还款要收手续费吗？")
    assert not body["abstained"] and "1.5%" in body["reply"]
    assert {c["title"] for c in body["citations"]} == {"明月贷产品说明"}
    assert "远航贷" not in body["answer"] and "星光分期" not in body["answer"]


def test_a_product_the_knowledge_base_lacks_is_not_answered_by_another_products_rules(api):
    body = ask(api, "晨曦分期提前还款收手续费吗？")
    assert body["abstained"] and body["abstain_reason"] == "unknown_product" and "unknown_product" in body["flags"]
    assert body["reply"] == "" and "晨曦分期" in body["guidance"][0]
    # once its document is uploaded, it is answered by its own rules
    job = upload(api, "chenxi.md", _product("晨曦分期", "晨曦分期借款满6期后提前还款免收手续费，未满6期的收取2%。",
                                            "晨曦分期的年化利率为8%至16%。").encode())
    assert wait_job(api, job)["status"] == "done"
    body = ask(api, "晨曦分期提前还款收手续费吗？")
    assert not body["abstained"] and "满6期" in body["reply"]
    assert {c["title"] for c in body["citations"]} == {"晨曦分期产品说明"}


def test_a_complaint_reply_is_sendable_and_the_procedure_is_the_agents(api):
    body = ask(api, "你们乱收费，我要投诉！")
    assert "complaint" in body["flags"]
    assert body["reply"].startswith("非常理解您的心情") and "安抚" not in body["reply"]
    assert any("安抚情绪" in g for g in body["guidance"])
    procedure = [c for c in body["citations"] if c["title"] == "客户投诉处理流程"]
    assert procedure and all(c["part"] == "guidance" for c in procedure)


def test_a_statute_question_is_answered_in_a_few_sentences_not_whole_articles(api):
    body = ask(api, "保证人要承担什么责任？")
    assert not body["abstained"]
    reply = body["reply"]
    # the two kinds of guarantee, each in a sentence, cited …
    assert "为一般保证" in reply and "为连带责任保证" in reply
    # … and at most three quotes: the article's list of exceptions stays in its source, one click away
    assert len(re.findall(r"\[\d+\]", reply)) <= 3
    assert "下落不明" not in reply and "(一)" not in reply and "（一）" not in reply
