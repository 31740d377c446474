"""Closed complaints as past cases of the knowledge base ("past case resolutions").

A trainer promotes a closed complaint with its resolution: CiteDesk proposes the case text —
personal numbers masked, and people's names shortened to a surname and 某 (张伟 → 张某), the usual
way Chinese case write-ups anonymise — the trainer reviews and edits it, and every promoted case
is written into one case file (JSONL, the format `citedesk ingest` reads for cases) that is
ingested as one document through the normal ingest path, so the next agent with the same problem
gets it cited.
"""

from __future__ import annotations

import json
from typing import Any

from kb.errors import ValidationError
from kb.records.models import Complaint, FollowUp
from kb.text.norm import PERSON_TAGS, proper_nouns
from kb.text.pii import mask_pii

CASE_FILE = "投诉案例.jsonl"  # ingested as an upload: document title 历史案例：投诉案例
OUTCOMES = {"satisfied": "已解决，客户满意", "not_satisfied": "已办结，客户不满意",
            "unreachable": "已办结，回访未接通"}
LIMIT = 4000


def anonymise(text: str) -> str:
    """Personal numbers masked and people's names shortened (张伟 → 张某)."""
    text = mask_pii(text or "").text
    for name, tag in proper_nouns(text).items():
        if tag in PERSON_TAGS and name in text:
            text = text.replace(name, f"{name[0]}某")
    return text.strip()


def case_draft(c: Complaint, followups: list[FollowUp]) -> dict[str, Any]:
    """The case text CiteDesk proposes for a trainer to review."""
    done = [f for f in followups if f.outcome]
    issue = c.narrative + (f"客户诉求：{c.request}" if c.request else "")
    return {"case_id": c.ticket_no, "category": c.topic, "product": c.product,
            "customer_issue": anonymise(issue), "resolution": anonymise(c.resolution or ""),
            "outcome": OUTCOMES.get(done[-1].outcome, "") if done else ""}


def check_promotable(c: Complaint) -> None:
    if c.status != "closed" or not (c.resolution or "").strip():
        raise ValidationError(f"complaint {c.ticket_no} is {c.status}; only a closed complaint with its resolution "
                              "becomes a past case")


def reviewed_case(customer_issue: str, resolution: str) -> tuple[str, str]:
    """The trainer's reviewed texts, masked once more; both are required."""
    issue, res = mask_pii(customer_issue or "").text.strip(), mask_pii(resolution or "").text.strip()
    if not issue or not res:
        raise ValidationError("a past case needs the customer's issue and the resolution")
    if len(issue) > LIMIT or len(res) > LIMIT:
        raise ValidationError(f"the case texts are limited to {LIMIT} characters each")
    return issue, res


def case_file(cases: list[dict[str, Any]]) -> bytes:
    """The JSONL case file of every promoted complaint (case_id, date, category, product,
    customer_issue, resolution, outcome)."""
    lines = [json.dumps({k: v for k, v in case.items() if v not in (None, "")}, ensure_ascii=False)
             for case in cases]
    return ("\n".join(lines) + "\n").encode("utf-8")


def case_of(c: Complaint, outcome: str, day: str) -> dict[str, Any]:
    """One line of the case file; `outcome` is the follow-up call's (satisfied, …)."""
    return {"case_id": c.ticket_no, "date": day, "category": c.topic, "product": c.product,
            "customer_issue": c.case_issue, "resolution": c.case_resolution, "outcome": OUTCOMES.get(outcome, "")}
