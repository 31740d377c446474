"""Trainer pages: Q&A sets (list, items, import, export), the review queue with grading and
promotion into a set, evaluation runs and their reports, and the accuracy dashboard."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from evals.labels import PER_QUESTION, failure_reason
from evals.qaset import parse_qaset
from evals.report import SHOWN, TOPIC_KEYS, run_report_dir
from kb.errors import CiteDeskError, NotFoundError, ValidationError
from ui.chart import Series, legend, line_chart
from ui.i18n import translate
from ui.routes.common import RecordsDep, SettingsDep, error_page, guard, guard_form, lang_of, render

router = APIRouter(prefix="/trainer", include_in_schema=False)
GRADES = ("correct", "partial", "wrong")
# file extension → evals.qaset format: the project's own YAML sets, JSON lines, and trainers' sheets
IMPORT_FORMATS = {"yaml": "yaml", "yml": "yaml", "jsonl": "jsonl", "csv": "csv", "xlsx": "xlsx"}
VERDICT_ORDER = {"rejected": 0, "edited": 1, None: 2, "accepted": 3}
MAX_IMPORT = 10 << 20  # a Q&A sheet; the app also caps the whole request body (api.bodies)


def _lines(text: str) -> list[str]:
    return [x.strip() for x in (text or "").splitlines() if x.strip()]


def _strip_markers(text: str) -> str:
    return re.sub(r"\s*\[\d+\]", "", text or "").strip()


def _denied(request: Request, records: Any) -> Any:
    return guard(request, records, "trainer")


@router.get("/qasets", response_class=HTMLResponse)
def qasets(request: Request, records: RecordsDep, error: str | None = None) -> Response:
    user = _denied(request, records)
    if isinstance(user, Response):
        return user
    sets = [{"set": s, "count": len(records.items(s.id))} for s in records.qasets()]
    return render(request, "trainer/qasets.html", {"sets": sets, "error": error}, user=user)


@router.post("/qasets")
def create_qaset(request: Request, records: RecordsDep, name: str = Form(""), description: str = Form(""),
                 csrf: str = Form("")) -> Response:
    user = guard_form(request, records, "trainer", csrf)
    if isinstance(user, Response):
        return user
    try:
        row = records.create_qaset(name, description, author=user.username)
    except ValidationError as exc:
        return RedirectResponse(f"/trainer/qasets?error={quote(str(exc))}", status_code=303)
    records.audit(user.username, "qaset.create", row.name)
    return RedirectResponse(f"/trainer/qasets/{row.id}", status_code=303)


@router.post("/qasets/import")
async def import_qaset(request: Request, records: RecordsDep, file: Annotated[UploadFile, File()],
                       name: str = Form(""), csrf: str = Form("")) -> Response:
    user = guard_form(request, records, "trainer", csrf)
    if isinstance(user, Response):
        return user
    filename = file.filename or "qaset.csv"
    ext = filename.rsplit(".", 1)[-1].lower()
    ext = IMPORT_FORMATS.get(ext, ext)
    data = await file.read(MAX_IMPORT + 1)
    try:
        if ext not in IMPORT_FORMATS.values():
            raise ValidationError(translate("err.import_type", lang_of(request), name=filename))
        if len(data) > MAX_IMPORT:
            raise ValidationError(translate("err.import_size", lang_of(request), mb=MAX_IMPORT >> 20))
        # parsed and stored in a worker thread: a large sheet never holds up other requests
        row, count = await run_in_threadpool(_import, records, user.username, filename, ext, data, name)
    except (CiteDeskError, UnicodeDecodeError) as exc:
        return RedirectResponse(f"/trainer/qasets?error={quote(str(exc)[:500])}", status_code=303)
    records.audit(user.username, "qaset.import", row.name, {"items": count, "file": filename})
    return RedirectResponse(f"/trainer/qasets/{row.id}", status_code=303)


def _import(records: Any, author: str, filename: str, ext: str, data: bytes, name: str) -> tuple[Any, int]:
    stem = filename.rsplit(".", 1)[0].strip()
    parsed = parse_qaset(data if ext == "xlsx" else data.decode("utf-8-sig"), ext, name=stem, source=filename)
    if name.strip():  # the name typed in the form wins over the one in a YAML file
        parsed.name = name.strip()
    items = parsed.item_rows(author=author)
    row = records.create_qaset(parsed.name, parsed.description, author=author)
    records.add_items(row.id, items)
    return row, len(items)


@router.get("/qasets/{qaset_id}", response_class=HTMLResponse)
def qaset_view(qaset_id: int, request: Request, records: RecordsDep, error: str | None = None) -> Response:
    user = _denied(request, records)
    if isinstance(user, Response):
        return user
    try:
        row = records.get_qaset(qaset_id)
    except NotFoundError:
        return error_page(request, 404, user, "error.404.title", message=str(qaset_id))
    return render(request, "trainer/qaset.html", {"qaset": row, "items": records.items(qaset_id), "error": error},
                  user=user)


@router.post("/qasets/{qaset_id}/items")
def save_item(qaset_id: int, request: Request, records: RecordsDep, item_id: int | None = Form(None),
              question: str = Form(""), reference_answer: str = Form(""), key_points: str = Form(""),
              expected_sources: str = Form(""), topic: str = Form(""), answerable: str | None = Form(None),
              action: str = Form("save"), csrf: str = Form("")) -> Response:
    user = guard_form(request, records, "trainer", csrf)
    if isinstance(user, Response):
        return user
    fields = {"question": question, "reference_answer": reference_answer.strip(),
              "key_points": _lines(key_points), "expected_sources": [{"title": s} for s in _lines(expected_sources)],
              "topic": topic.strip() or None, "answerable": answerable is not None}
    try:
        if action == "delete" and item_id:
            records.delete_item(qaset_id, item_id)
            records.audit(user.username, "qaset.item.delete", f"{qaset_id}/{item_id}")
        elif item_id:
            records.update_item(qaset_id, item_id, **fields)
            records.audit(user.username, "qaset.item.update", f"{qaset_id}/{item_id}")
        else:
            row = records.add_item(qaset_id, author=user.username, **fields)
            records.audit(user.username, "qaset.item.add", f"{qaset_id}/{row.id}")
    except CiteDeskError as exc:
        return RedirectResponse(f"/trainer/qasets/{qaset_id}?error={quote(str(exc))}", status_code=303)
    return RedirectResponse(f"/trainer/qasets/{qaset_id}", status_code=303)


def _queue(records: Any, limit: int = 200) -> list[dict[str, Any]]:
    rows = []
    for it in records.interactions(limit=limit):
        fb = records.feedback_for(it.id)
        last = fb[-1] if fb else None
        rows.append({"it": it, "verdict": last.verdict if last else None,
                     "edited_reply": last.edited_reply if last else None, "comment": last.comment if last else None})
    rows.sort(key=lambda r: (VERDICT_ORDER.get(r["verdict"], 2), -r["it"].id))
    return rows


@router.get("/review", response_class=HTMLResponse)
def review(request: Request, records: RecordsDep, promoted: str | None = None, error: str | None = None,
           keyed: int | None = None) -> Response:
    user = _denied(request, records)
    if isinstance(user, Response):
        return user
    rows = _queue(records)
    for r in rows:
        r["corrected"] = r["edited_reply"] or _strip_markers(r["it"].answer)
    return render(request, "trainer/review.html", {"rows": rows, "sets": records.qasets(), "grades": GRADES,
                                                   "promoted": promoted, "error": error, "keyed": keyed}, user=user)


@router.post("/review/{interaction_id}/key")
def confirm_key(interaction_id: int, request: Request, records: RecordsDep, chunk_id: str = Form(""),
                csrf: str = Form("")) -> Response:
    """An accepted reply's question, confirmed by a trainer as a question key of a chunk the reply
    cited (kb.index.added_keys, origin accepted:<interaction id>)."""
    user = guard_form(request, records, "trainer", csrf)
    if isinstance(user, Response):
        return user
    try:
        it = records.get_interaction(interaction_id)
        if not chunk_id or chunk_id not in {c.get("chunk_id") for c in it.citations or []}:
            raise ValidationError("a key from an accepted reply belongs to a chunk that reply cited")
        request.app.state.writes.question_keys("add_question_keys", items=[[chunk_id, it.question,
                                                                              f"accepted:{interaction_id}"]],
                                               by=user.username)
    except CiteDeskError as exc:
        return RedirectResponse(f"/trainer/review?error={quote(str(exc))}", status_code=303)
    records.audit(user.username, "question_key.add", chunk_id, {"origin": f"accepted:{interaction_id}"})
    return RedirectResponse(f"/trainer/review?keyed={interaction_id}", status_code=303)


@router.post("/review/{interaction_id}/promote")
def promote(interaction_id: int, request: Request, records: RecordsDep, grade: str = Form(""),
            corrected: str = Form(""), key_points: str = Form(""), qaset_id: str = Form(""),
            new_set: str = Form(""), confirmed: str = Form(""), csrf: str = Form("")) -> Response:
    """Add a graded interaction to a Q&A set. Nothing is assumed: the trainer picks the grade and
    confirms the reference answer, so one click cannot add the system's own reply as a correct item."""
    user = guard_form(request, records, "trainer", csrf)
    if isinstance(user, Response):
        return user
    lang = lang_of(request)
    try:
        if not grade:
            raise ValidationError(translate("err.choose_grade", lang))
        if grade not in GRADES:
            raise ValidationError(translate("err.bad_grade", lang))
        if confirmed != "1":
            raise ValidationError(translate("err.confirm_reference", lang))
        it = records.get_interaction(interaction_id)
        if grade == "wrong" and corrected.strip() and corrected.strip() == _strip_markers(it.answer):
            raise ValidationError(translate("err.wrong_reply_as_reference", lang))
        if new_set.strip():
            target = records.create_qaset(new_set.strip(), author=user.username)
        elif qaset_id.isdigit():
            target = records.get_qaset(int(qaset_id))
        else:
            raise ValidationError(translate("err.choose_set", lang))
        sources = [{k: c.get(k) for k in ("title", "section", "chunk_id") if c.get(k)} for c in it.citations or []]
        records.add_item(target.id, question=it.question, reference_answer=corrected.strip(),
                         key_points=_lines(key_points), expected_sources=sources,
                         answerable=bool(corrected.strip()), topic=it.kind, author=user.username, reviewed=True,
                         grades=[{"grade": grade, "by": user.username, "interaction_id": it.id}],
                         source_interaction_id=it.id)
    except CiteDeskError as exc:
        return RedirectResponse(f"/trainer/review?error={quote(str(exc))}", status_code=303)
    records.audit(user.username, "qaset.promote", target.name, {"interaction_id": interaction_id, "grade": grade})
    return RedirectResponse(f"/trainer/review?promoted={quote(target.name)}", status_code=303)


@router.get("/evals", response_class=HTMLResponse)
def evals(request: Request, records: RecordsDep) -> Response:
    from kb.records.curation import primary_score

    user = _denied(request, records)
    if isinstance(user, Response):
        return user
    runs = [{"run": r, "score": primary_score(r.overall or {})} for r in records.eval_runs(limit=100)]
    return render(request, "trainer/evals.html", {"runs": runs, "sets": records.qasets()}, user=user)


@router.get("/evals/{run_id}", response_class=HTMLResponse)
def eval_report(run_id: int, request: Request, records: RecordsDep, settings: SettingsDep) -> Response:

    user = _denied(request, records)
    if isinstance(user, Response):
        return user
    try:
        run = records.get_eval_run(run_id)
    except NotFoundError:
        return error_page(request, 404, user, "error.404.title", message=str(run_id))
    # each question with its scores and details (correct, abstained, why) in one row
    results = [(r, {**(r.scores or {}), **(r.detail or {})}) for r in records.eval_results(run_id)]
    has_html = any(run_report_dir(settings.data_dir, run_id).glob("*.html"))
    overall = run.overall or {}
    # the report's own order of metrics, then any other (ragas), without the count (in the heading)
    overall_keys = [k for k in SHOWN if k in overall] + [k for k in overall if k not in SHOWN and k != "n"]
    if "n" in overall:
        overall_keys.insert(0, "n")
    lang = lang_of(request)
    return render(request, "trainer/eval_report.html", {
        "run": run, "results": results, "has_html": has_html, "overall_keys": overall_keys,
        "topic_keys": TOPIC_KEYS, "question_keys": PER_QUESTION, "reason": lambda row: failure_reason(row, lang),
    }, user=user)


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request, records: RecordsDep, days: int = 30) -> Response:
    user = _denied(request, records)
    if isinstance(user, Response):
        return user
    days = min(max(days, 1), 365)
    metrics = records.accuracy_metrics(days=days)
    series = []
    for ev in metrics.get("evals", []):
        pts = [(datetime.fromisoformat(p["at"]), float(p["score"])) for p in ev["trend"] if p["score"] is not None]
        series.append(Series(ev["set_name"], pts))
    lang = lang_of(request)
    svg = line_chart(series, title=translate("dash.chart_label", lang)) if series else ""
    latest_topics: dict[str, Any] = {}
    runs = [r for r in records.eval_runs(limit=20) if r.status == "done"]
    if runs:
        latest_topics = {"run": runs[0], "topics": runs[0].per_topic or {}}
    labels = {topic: topic_label(topic, lang) for topic in metrics.get("per_topic", {})}
    return render(request, "trainer/dashboard.html", {"metrics": metrics, "svg": svg, "legend": legend(series),
                                                      "days": days, "latest": latest_topics, "labels": labels,
                                                      "topic_keys": TOPIC_KEYS,
                                                      "overdue": records.overdue_count()},
                  user=user)


def topic_label(topic: str, lang: str) -> str:
    """'kind:product' → 类型：产品, 'flag:account_lookup' → 标记：账户查询（需到业务系统）,
    'flag:compliance:rate_annualised' → 标记：合规提示：利率未以年化展示, 'general' → 未分类.
    A flag or rule without a label in the catalogue keeps its name."""
    from ui.i18n import CATALOGUE

    words = CATALOGUE[lang]
    kind_of, _, value = topic.partition(":")
    if kind_of == "kind":
        name = words.get(f"kind.{value}", value)
        return translate("topic.kind", lang, kind=name)
    if kind_of == "flag":
        flag, _, rule = value.partition(":")
        if flag == "compliance" and rule:
            name = translate("flag.compliance", lang, rule=words.get(f"compliance.{rule}", rule))
        else:
            name = words.get(f"flag.{value}", value)
        return translate("topic.flag", lang, flag=name)
    return translate("topic.general", lang) if topic == "general" else topic
