"""Spot checks of service records (事后抽查) — mixed into `Records`.

A trainer draws a random sample of conversations (interactions), narrowed by agent, agent team,
topic and period, and grades each on a short rubric: accurate, complete, polite, compliant. The
grades feed the answer-accuracy KPI (kb.records.kpis) and the Q&A sets: a grade is added to the
grades of every Q&A item made from that conversation, and a graded conversation can become a new
item (`spot_check_to_item`). A conversation is drawn at most once.
"""

from __future__ import annotations

import random
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select

from kb.errors import NotFoundError, ValidationError
from kb.records.models import RUBRIC, AuditEvent, Feedback, Interaction, QAItem, SpotCheck, User, utcnow
from kb.records.routing import as_utc
from kb.text.pii import mask_pii

MAX_SAMPLE = 500


class SpotChecksMixin:
    Session: Any
    rules: Any

    def draw_sample(self, drawn_by: str, size: int, *, agent_id: int | None = None, team: str | None = None,
                    topic: str | None = None, since: datetime | None = None, until: datetime | None = None,
                    seed: int | None = None, at: datetime | None = None) -> tuple[str, list[SpotCheck]]:
        """Draw up to `size` conversations not checked before; returns the sample id and its rows
        (fewer rows when fewer conversations match)."""
        if not 1 <= size <= MAX_SAMPLE:
            raise ValidationError(f"a sample has 1 to {MAX_SAMPLE} conversations")
        now = as_utc(at or utcnow())
        q = select(Interaction.id).outerjoin(User, User.id == Interaction.user_id)
        if agent_id is not None:
            q = q.where(Interaction.user_id == agent_id)
        if team is not None:
            q = q.where(User.team == team)
        if topic is not None:
            q = q.where(Interaction.topic == topic)
        if since is not None:
            q = q.where(Interaction.created_at >= self._db_time(since))
        if until is not None:
            q = q.where(Interaction.created_at < self._db_time(until))
        q = q.where(Interaction.id.not_in(select(SpotCheck.interaction_id)))
        criteria = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in
                    {"agent_id": agent_id, "team": team, "topic": topic, "since": since, "until": until,
                     "size": size, "seed": seed}.items() if v is not None}
        sample = f"S{self.rules.local(now):%Y%m%d}-{secrets.token_hex(3)}"
        with self.Session.begin() as s:
            ids = sorted(s.scalars(q))
            chosen = sorted(random.Random(seed).sample(ids, min(size, len(ids))))
            rows = [SpotCheck(sample=sample, interaction_id=i, criteria=criteria, drawn_by=drawn_by[:100], drawn_at=now)
                    for i in chosen]
            s.add_all(rows)
            s.add(AuditEvent(actor=drawn_by, action="spotcheck.draw", target=f"sample {sample}", at=now,
                             detail={**criteria, "drawn": len(rows)}))
            s.flush()
            return sample, rows

    def grade_spot_check(self, spot_id: int, graded_by: str, *, accurate: bool, complete: bool, polite: bool,
                         compliant: bool, comment: str | None = None, at: datetime | None = None) -> SpotCheck:
        """Grade (or re-grade) one drawn conversation; the grade is added to the Q&A items made from it."""
        marks = {"accurate": accurate, "complete": complete, "polite": polite, "compliant": compliant}
        if any(not isinstance(v, bool) for v in marks.values()):
            raise ValidationError(f"grade each of {', '.join(RUBRIC)} as true or false")
        comment = mask_pii(comment).text.strip()[:4000] if comment else None
        now = as_utc(at or utcnow())
        with self.Session.begin() as s:
            row = s.get(SpotCheck, spot_id, with_for_update=True)
            if row is None:
                raise NotFoundError(f"no spot check {spot_id}")
            for k, v in marks.items():
                setattr(row, k, v)
            row.comment, row.graded_by, row.graded_at = comment or None, graded_by[:100], now
            grade = {"spot_check": row.id, "by": graded_by, "at": now.isoformat(), **marks}
            for item in s.scalars(select(QAItem).where(QAItem.source_interaction_id == row.interaction_id)):
                item.grades = [g for g in (item.grades or []) if g.get("spot_check") != row.id] + [grade]
            s.add(AuditEvent(actor=graded_by, action="spotcheck.grade", target=f"sample {row.sample}", at=now,
                             detail={"spot_check": row.id, **marks}))
            return row

    def spot_checks(self, sample: str | None = None, pending: bool | None = None,
                    limit: int = 500) -> list[tuple[SpotCheck, Interaction]]:
        q = select(SpotCheck, Interaction).join(Interaction, Interaction.id == SpotCheck.interaction_id)
        if sample is not None:
            q = q.where(SpotCheck.sample == sample)
        if pending is True:
            q = q.where(SpotCheck.graded_at.is_(None))
        elif pending is False:
            q = q.where(SpotCheck.graded_at.isnot(None))
        with self.Session() as s:
            return list(s.execute(q.order_by(SpotCheck.id.desc()).limit(limit)))

    def get_spot_check(self, spot_id: int) -> tuple[SpotCheck, Interaction]:
        with self.Session() as s:
            row = s.execute(select(SpotCheck, Interaction).join(Interaction, Interaction.id == SpotCheck.interaction_id)
                            .where(SpotCheck.id == spot_id)).first()
        if row is None:
            raise NotFoundError(f"no spot check {spot_id}")
        return row[0], row[1]

    def samples(self) -> list[dict[str, Any]]:
        """Each sample with its size and how many of it are graded, newest first."""
        out: dict[str, dict[str, Any]] = {}
        with self.Session() as s:
            for sc in s.scalars(select(SpotCheck).order_by(SpotCheck.id.desc())):
                row = out.setdefault(sc.sample, {"sample": sc.sample, "drawn_by": sc.drawn_by, "drawn_at": sc.drawn_at,
                                                 "criteria": sc.criteria or {}, "size": 0, "graded": 0})
                row["size"] += 1
                row["graded"] += sc.graded_at is not None
        return list(out.values())

    def spot_check_to_item(self, spot_id: int, qaset_id: int, actor: str, key_points: list[str],
                           reference_answer: str | None = None, topic: str | None = None) -> QAItem:
        """A graded conversation as a Q&A item: its question, the reference answer given (else the
        agent's edited reply, else the reply itself when it was graded accurate), its grade."""
        sc, it = self.get_spot_check(spot_id)
        if sc.graded_at is None:
            raise ValidationError(f"spot check {spot_id} is not graded yet")
        reference = (reference_answer or "").strip()
        if not reference:
            with self.Session() as s:
                last = s.scalar(select(Feedback).where(Feedback.interaction_id == it.id).order_by(Feedback.id.desc()))
            if last is not None and last.verdict == "edited" and last.edited_reply:
                reference = last.edited_reply
            elif sc.accurate:
                reference = it.answer
        if not reference:
            raise ValidationError("the reply was graded inaccurate and the agent did not edit it; give the reference "
                                  "answer")
        grade = {"spot_check": sc.id, "by": sc.graded_by, **{k: getattr(sc, k) for k in RUBRIC}}
        sources = [{k: c.get(k) for k in ("title", "section", "chunk_id") if c.get(k)} for c in it.citations or []]
        return self.add_item(qaset_id, question=it.question, reference_answer=reference, key_points=key_points,
                             expected_sources=sources if sc.accurate else [], topic=topic or it.topic,
                             author=actor, reviewed=actor, grades=[grade], answerable=True,
                             source_interaction_id=it.id)
