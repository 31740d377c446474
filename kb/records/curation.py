"""Q&A sets and items, evaluation runs and live accuracy metrics — the trainer's side of the
records database. Mixed into `Records` (kb.records.repo), which provides `Session`."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select

from kb.errors import NotFoundError, ValidationError, clip
from kb.records.models import EvalResult, EvalRun, Feedback, Interaction, QAItem, QASet, utcnow
from kb.text.pii import mask_pii

ITEM_FIELDS = ("ext_id", "question", "reference_answer", "key_points", "expected_sources", "answerable", "topic", "tags",
               "author", "reviewed", "grades", "source_interaction_id")
SCORE_KEYS = ("accuracy", "answer_accuracy", "score", "key_point_recall", "hit@5", "hit_at_5")


def primary_score(overall: dict[str, Any]) -> float | None:
    """The headline number of an eval run's overall metrics (first known key, else first number)."""
    for k in SCORE_KEYS:
        if isinstance(overall.get(k), int | float):
            return float(overall[k])
    for v in overall.values():
        if isinstance(v, int | float) and not isinstance(v, bool):
            return float(v)
    return None


def mask_strings(value: Any) -> Any:
    """`value` with personal numbers masked in every string it holds (dicts and lists walked)."""
    if isinstance(value, str):
        return mask_pii(value).text
    if isinstance(value, dict):
        return {k: mask_strings(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_strings(v) for v in value]
    return value


# what a trainer or an import writes into an item: masked like a question before it is stored
_FREE_TEXT = ("reference_answer", "key_points", "expected_sources", "topic", "tags", "reviewed", "grades")


def _clean_item(data: dict[str, Any]) -> dict[str, Any]:
    out = {k: data[k] for k in ITEM_FIELDS if k in data}
    if "question" in out:
        q = mask_pii(str(out["question"] or "")).text.strip()
        if not q:
            raise ValidationError("a Q&A item needs a non-empty question")
        out["question"] = q
    for k in _FREE_TEXT:
        if out.get(k) is not None:
            out[k] = mask_strings(out[k])
    for k in ("key_points", "expected_sources", "tags", "grades"):
        if k in out and out[k] is None:
            out[k] = []
    return out


class CurationMixin:
    Session: Any

    # -- Q&A sets ----------------------------------------------------------------------------
    def create_qaset(self, name: str, description: str = "", author: str | None = None) -> QASet:
        name = mask_pii(name or "").text.strip()
        description = mask_pii(description or "").text
        if not name or len(name) > 200:
            raise ValidationError("a Q&A set name is 1 to 200 characters")
        with self.Session.begin() as s:
            if s.scalar(select(QASet).where(QASet.name == name)):
                raise ValidationError(f"a Q&A set named {name!r} already exists")
            row = QASet(name=name, description=description or "", author=author)
            s.add(row)
            s.flush()
            return row

    def qasets(self) -> list[QASet]:
        with self.Session() as s:
            return list(s.scalars(select(QASet).order_by(QASet.id)))

    def get_qaset(self, qaset_id: int) -> QASet:
        with self.Session() as s:
            row = s.get(QASet, qaset_id)
        if row is None:
            raise NotFoundError(f"no Q&A set {qaset_id}")
        return row

    def update_qaset(self, qaset_id: int, name: str | None = None, description: str | None = None) -> QASet:
        with self.Session.begin() as s:
            row = s.get(QASet, qaset_id)
            if row is None:
                raise NotFoundError(f"no Q&A set {qaset_id}")
            if name is not None:
                name = mask_pii(name).text.strip()
                if not name or len(name) > 200:
                    raise ValidationError("a Q&A set name is 1 to 200 characters")
                clash = s.scalar(select(QASet).where(QASet.name == name, QASet.id != qaset_id))
                if clash:
                    raise ValidationError(f"a Q&A set named {name!r} already exists")
                row.name = name
            if description is not None:
                row.description = mask_pii(description).text
            row.updated_at = utcnow()
            return row

    def delete_qaset(self, qaset_id: int) -> None:
        with self.Session.begin() as s:
            row = s.get(QASet, qaset_id)
            if row is None:
                raise NotFoundError(f"no Q&A set {qaset_id}")
            s.execute(delete(QAItem).where(QAItem.qaset_id == qaset_id))
            s.delete(row)

    # -- items -------------------------------------------------------------------------------
    def items(self, qaset_id: int) -> list[QAItem]:
        self.get_qaset(qaset_id)
        with self.Session() as s:
            return list(s.scalars(select(QAItem).where(QAItem.qaset_id == qaset_id).order_by(QAItem.id)))

    def add_items(self, qaset_id: int, items: list[dict[str, Any]]) -> list[QAItem]:
        """Add several items in one transaction: one bad item adds none."""
        cleaned = [_clean_item(it) for it in items]
        for it in cleaned:
            if "question" not in it:
                raise ValidationError("a Q&A item needs a question")
        with self.Session.begin() as s:
            if s.get(QASet, qaset_id) is None:
                raise NotFoundError(f"no Q&A set {qaset_id}")
            rows = [QAItem(qaset_id=qaset_id, **{"reference_answer": "", "key_points": [], "expected_sources": [],
                                                 "tags": [], "grades": [], "answerable": True,
                                                 **it}) for it in cleaned]
            s.add_all(rows)
            s.flush()
            return rows

    def add_item(self, qaset_id: int, **fields: Any) -> QAItem:
        return self.add_items(qaset_id, [fields])[0]

    def get_item(self, qaset_id: int, item_id: int) -> QAItem:
        with self.Session() as s:
            row = s.get(QAItem, item_id)
        if row is None or row.qaset_id != qaset_id:
            raise NotFoundError(f"no item {item_id} in Q&A set {qaset_id}")
        return row

    def update_item(self, qaset_id: int, item_id: int, **fields: Any) -> QAItem:
        data = _clean_item(fields)
        with self.Session.begin() as s:
            row = s.get(QAItem, item_id)
            if row is None or row.qaset_id != qaset_id:
                raise NotFoundError(f"no item {item_id} in Q&A set {qaset_id}")
            for k, v in data.items():
                setattr(row, k, v)
            return row

    def delete_item(self, qaset_id: int, item_id: int) -> None:
        with self.Session.begin() as s:
            row = s.get(QAItem, item_id)
            if row is None or row.qaset_id != qaset_id:
                raise NotFoundError(f"no item {item_id} in Q&A set {qaset_id}")
            s.delete(row)

    # -- evaluation runs ---------------------------------------------------------------------
    def start_eval_run(self, set_name: str, qaset_id: int | None = None, actor: str | None = None) -> int:
        with self.Session.begin() as s:
            run = EvalRun(set_name=set_name, qaset_id=qaset_id, status="queued", overall={}, per_topic={},
                          actor=actor)
            s.add(run)
            s.flush()
            return run.id

    def mark_eval_run(self, run_id: int, status: str, error: str | None = None) -> None:
        with self.Session.begin() as s:
            run = s.get(EvalRun, run_id)
            if run is None:
                raise NotFoundError(f"no eval run {run_id}")
            run.status = status
            run.error = None if error is None else clip(error)
            if status in ("done", "failed"):
                run.finished_at = utcnow()

    def save_eval_run(self, result: dict[str, Any], set_name: str, *, qaset_id: int | None = None,
                      snapshot_id: str | None = None, settings_hash: str | None = None,
                      actor: str | None = None, run_id: int | None = None) -> int:
        """Store a harness result (`overall`, `per_topic`, `per_question`); returns the run id.
        With `run_id`, completes a run started by `start_eval_run`."""
        if not isinstance(result, dict) or not isinstance(result.get("overall", {}), dict):
            raise ValidationError("an eval result is a dict with an 'overall' dict")
        with self.Session.begin() as s:
            run = s.get(EvalRun, run_id) if run_id else None
            if run_id and run is None:
                raise NotFoundError(f"no eval run {run_id}")
            if run is None:
                run = EvalRun(set_name=set_name, qaset_id=qaset_id, actor=actor)
                s.add(run)
            run.status, run.error, run.finished_at = "done", None, utcnow()
            run.overall = result.get("overall") or {}
            run.per_topic = result.get("per_topic") or {}
            run.snapshot_id = snapshot_id or result.get("snapshot_id")
            run.settings_hash = settings_hash or result.get("settings_hash")
            s.flush()
            for q in result.get("per_question") or []:
                q = dict(q)
                scores = {k: v for k, v in q.items() if isinstance(v, int | float) and not isinstance(v, bool)}
                detail = {k: v for k, v in q.items() if k not in scores and k not in ("question", "topic")}
                s.add(EvalResult(run_id=run.id, question=str(q.get("question", "")), topic=q.get("topic"),
                                 scores=scores, detail=_jsonable(detail)))
            return run.id

    def eval_runs(self, set_name: str | None = None, limit: int = 100) -> list[EvalRun]:
        q = select(EvalRun)
        if set_name:
            q = q.where(EvalRun.set_name == set_name)
        with self.Session() as s:
            return list(s.scalars(q.order_by(EvalRun.id.desc()).limit(limit)))

    def get_eval_run(self, run_id: int) -> EvalRun:
        with self.Session() as s:
            run = s.get(EvalRun, run_id)
        if run is None:
            raise NotFoundError(f"no eval run {run_id}")
        return run

    def eval_results(self, run_id: int) -> list[EvalResult]:
        with self.Session() as s:
            return list(s.scalars(select(EvalResult).where(EvalResult.run_id == run_id).order_by(EvalResult.id)))

    # -- live accuracy -----------------------------------------------------------------------
    def accuracy_metrics(self, days: int = 30) -> dict[str, Any]:
        """Acceptance / edit / rejection rates (last verdict per interaction) and abstention rate,
        overall, per topic (kind and flags), per product and per day; the latest eval scores."""
        since = utcnow() - timedelta(days=days)
        with self.Session() as s:
            rows = list(s.execute(select(Interaction.id, Interaction.kind, Interaction.product,
                                         Interaction.flags, Interaction.abstained, Interaction.created_at)
                                  .where(Interaction.created_at >= since)))
            verdicts: dict[int, str] = {}
            for iid, verdict in s.execute(select(Feedback.interaction_id, Feedback.verdict).order_by(Feedback.id)):
                verdicts[iid] = verdict
        buckets: dict[str, dict[str, list]] = {"overall": defaultdict(list), "per_topic": defaultdict(list),
                                               "per_product": defaultdict(list), "per_day": defaultdict(list)}
        for iid, kind, product, flags, abstained, created in rows:
            rec = (verdicts.get(iid), bool(abstained))
            buckets["overall"]["all"].append(rec)
            topics = [f"kind:{kind}"] if kind else []
            topics += [f"flag:{f}" for f in (flags or [])]
            for t in topics or ["general"]:
                buckets["per_topic"][t].append(rec)
            buckets["per_product"][product or "(any)"].append(rec)
            buckets["per_day"][created.date().isoformat()].append(rec)
        out: dict[str, Any] = {"days": days, "overall": _rates(buckets["overall"].get("all", []))}
        for name in ("per_topic", "per_product"):
            out[name] = {k: _rates(v) for k, v in sorted(buckets[name].items())}
        out["per_day"] = [{"day": d, **_rates(v)} for d, v in sorted(buckets["per_day"].items())]
        evals: dict[str, list] = defaultdict(list)
        for run in reversed(self.eval_runs(limit=500)):
            if run.status == "done":
                evals[run.set_name].append({"run_id": run.id, "at": run.created_at.isoformat(),
                                            "score": primary_score(run.overall or {})})
        out["evals"] = [{"set_name": name, "latest": trend[-1], "trend": trend[-20:],
                         "change": (None if len(trend) < 2 or trend[-1]["score"] is None
                                    or trend[-2]["score"] is None else trend[-1]["score"] - trend[-2]["score"])}
                        for name, trend in sorted(evals.items())]
        return out


def _rates(recs: list[tuple[str | None, bool]]) -> dict[str, Any]:
    n = len(recs)
    judged = [v for v, _ in recs if v]
    m = len(judged)

    def rate(v: str) -> float | None:
        return round(judged.count(v) / m, 4) if m else None

    return {"interactions": n, "with_feedback": m, "accepted_rate": rate("accepted"),
            "edited_rate": rate("edited"), "rejected_rate": rate("rejected"),
            "abstention_rate": round(sum(1 for _, a in recs if a) / n, 4) if n else None}


def _jsonable(obj: Any) -> Any:
    import json

    return json.loads(json.dumps(obj, default=str, ensure_ascii=False))
