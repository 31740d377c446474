"""Drafting a complaint record from the customer's words: what happened and what they ask for,
the amount in dispute, the product, the topic and department by the demo rules, the escalation
signals, the complaint procedure's step from the reply's own citation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from kb.answer.complaint_draft import amount_in, draft_complaint, product_in, split_request
from kb.answer.guards import load_guards
from kb.bundles import load_bundles
from kb.errors import ValidationError
from kb.records.routing import ComplaintRules

RULES = ComplaintRules.load(Path(__file__).resolve().parent.parent / "bundles" / "demo" / "rules" / "complaints.yaml")
NOW = datetime(2026, 3, 2, 2, tzinfo=UTC)


class NoSearch:
    """The draft quotes the reply's citation of the procedure; searching again would be wasted. The
    complaint signals come from the shipped guards."""

    guards = load_guards(load_bundles(None))

    @property
    def kb(self):
        raise AssertionError("the knowledge base was searched although the reply cited the procedure")


def test_what_happened_and_what_is_asked_are_told_apart():
    told, asked = split_request("随心贷提前还款收了我2%的手续费，合同上根本没写，我要投诉，要求退还手续费！")
    assert told == "随心贷提前还款收了我2%的手续费，合同上根本没写，我要投诉。" and asked == "要求退还手续费！"
    assert split_request("你们乱收费，我要投诉！") == ("你们乱收费，我要投诉！", "")
    assert split_request("I was charged twice. Please refund me.") == ("I was charged twice.", "Please refund me.")


def test_amounts_and_products():
    assert amount_in("多扣了我200元，本金五万块") == 50000
    assert amount_in("借了12期，利率2%") is None
    assert product_in("随心贷提前还款", ["乐享分期", "随心贷"]) == "随心贷"
    assert product_in("我的借款", ["随心贷"]) is None


def test_a_draft_from_a_complaint_about_collection():
    citations = [{"n": 1, "title": "客户投诉处理流程", "section": "坐席处理步骤", "doc_id": "d1", "chunk_id": "c1",
                  "quote": "先安抚情绪：先对客户的感受表示理解。"}]
    text = "催收员天天打电话骚扰我家人，我已经打了12378投诉你们，要求你们立即停止，手机13812345678"
    draft = draft_complaint(text, RULES, NoSearch(), products=["随心贷"], citations=citations, now=NOW)
    assert draft["topic"] == "催收" and "13812345678" not in draft["narrative"] + draft["request"]
    assert draft["request"].startswith("要求你们立即停止")
    assert set(draft["signals"]) >= {"regulator", "harassment"}
    assert draft["escalated"] and draft["department"] == "客服主管"  # a regulator: 2 hours, the supervisor
    assert draft["response_due"] == "2026-03-02T04:00:00+00:00" and draft["timezone"] == "Asia/Shanghai"
    assert draft["procedure_step"] == "先安抚情绪：先对客户的感受表示理解。" and draft["procedure_source"]["chunk_id"] == "c1"
    with pytest.raises(ValidationError, match="nothing in the conversation"):
        draft_complaint("   ", RULES, NoSearch(), now=NOW)
