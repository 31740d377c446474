"""`citedesk complaints …` (records, routing, follow-up calls, promotion to a past case),
`citedesk kpis` and `citedesk spotcheck …`. Actions are audited as cli:<login>."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from api.cli.admin_cmds import _actor, _records
from api.cli.common import data_dir_option, emit_json, handle_errors, json_option, main, settings_for
from kb.errors import CiteDeskError
from kb.records.models import COMPLAINT_STATUSES, FOLLOWUP_OUTCOMES
from kb.records.routing import as_utc


def _iso(dt: datetime | None) -> str | None:
    return as_utc(dt).isoformat() if dt else None


def _complaint(c: Any, kinds: list[str] | None = None) -> dict[str, Any]:
    return {"id": c.id, "ticket_no": c.ticket_no, "status": c.status, "topic": c.topic, "product": c.product,
            "department": c.department, "escalated": c.escalated, "agent": c.agent, "team": c.team,
            "narrative": c.narrative, "request": c.request, "resolution": c.resolution,
            "received_at": _iso(c.received_at), "response_due": _iso(c.response_due),
            "resolve_due": _iso(c.resolve_due), "overdue": kinds or [], "case_doc_id": c.case_doc_id}


@main.group()
def complaints() -> None:
    """Complaint records: list, show, record, route, resolve, follow up, close, promote."""


@complaints.command("list")
@click.option("--status", type=click.Choice(COMPLAINT_STATUSES), default=None)
@click.option("--overdue", is_flag=True, help="Only complaints with a deadline passed.")
@click.option("--limit", type=click.IntRange(1, 10000), default=200, show_default=True)
@data_dir_option
@json_option
@handle_errors
def complaints_list(status: str | None, overdue: bool, limit: int, data_dir: Path | None, as_json: bool) -> None:
    """Complaints, newest first, with what is overdue on each."""
    records = _records(data_dir, read_only=True)
    rows = [_complaint(c, kinds) for c, _, kinds in records.complaints(status=status, overdue=overdue, limit=limit)]
    if as_json:
        emit_json({"complaints": rows})
        return
    for r in rows:
        late = f"  OVERDUE: {', '.join(r['overdue'])}" if r["overdue"] else ""
        click.echo(f"{r['id']:>5}  {r['ticket_no']}  {r['status']:<8} {r['topic']:<6} → {r['department']}{late}")


@complaints.command("show")
@click.argument("complaint_id", type=int)
@data_dir_option
@json_option
@handle_errors
def complaints_show(complaint_id: int, data_dir: Path | None, as_json: bool) -> None:
    """One complaint with its follow-up calls and its history."""
    records = _records(data_dir, read_only=True)
    c = records.get_complaint(complaint_id)
    info = {**_complaint(c), "followups": [{"id": f.id, "due_at": _iso(f.due_at), "outcome": f.outcome,
                                             "done_at": _iso(f.done_at)} for f in records.followups_of(c.id)],
            "history": [{"actor": e.actor, "action": e.action, "at": _iso(e.at), "detail": e.detail}
                        for e in records.complaint_history(c.id)]}
    if as_json:
        emit_json(info)
        return
    for k, v in info.items():
        if k not in ("followups", "history"):
            click.echo(f"{k:>13}: {'' if v is None else v}")
    for f in info["followups"]:
        click.echo(f"     follow-up: {f['id']} due {f['due_at']} {f['outcome'] or 'open'}")
    for e in info["history"]:
        click.echo(f"       history: {e['at']} {e['actor']} {e['action']}")


@complaints.command("create")
@click.option("--narrative", required=True, help="What the customer says happened.")
@click.option("--request", default=None, help="What the customer asks for.")
@click.option("--topic", default=None, help="The category (default: the rules' topic of the text).")
@click.option("--product", default=None)
@click.option("--amount", type=float, default=None, help="The sum in dispute, in yuan.")
@click.option("--escalate", is_flag=True, help="Escalate whatever the rules say.")
@data_dir_option
@json_option
@handle_errors
def complaints_create(narrative: str, request: str | None, topic: str | None, product: str | None,
                      amount: float | None, escalate: bool, data_dir: Path | None, as_json: bool) -> None:
    """Record a complaint (routed and given deadlines by the complaint rules)."""
    c = _records(data_dir).create_complaint(narrative=narrative, request=request, topic=topic, product=product,
                                            amount=amount, escalate=escalate, agent=_actor())
    emit_json(_complaint(c)) if as_json else click.echo(f"recorded {c.ticket_no} ({c.topic} → {c.department})")


def _act(name: str, help_text: str, call, *options):
    """A complaint action command: `citedesk complaints <name> ID [options]`."""

    @complaints.command(name, help=help_text)
    @click.argument("complaint_id", type=int)
    @data_dir_option
    @handle_errors
    def command(complaint_id: int, data_dir: Path | None, **kw: Any) -> None:
        c = call(_records(data_dir, read_only=True), complaint_id, _actor(), **kw)
        click.echo(f"{c.ticket_no}: {c.status} ({c.department})")

    for opt in reversed(options):
        command = opt(command)
    return command


_act("route", "Hand a new complaint to its department (the rules', or --department).",
     lambda r, i, a, department: r.route_complaint(i, a, department=department),
     click.option("--department", default=None))
_act("extend", "Approve the extended resolution deadline (a supervisor's decision).",
     lambda r, i, a, reason: r.extend_complaint(i, a, reason), click.option("--reason", required=True))
_act("resolve", "Record the result told to the customer; the follow-up call becomes due.",
     lambda r, i, a, resolution: r.resolve_complaint(i, a, resolution), click.option("--resolution", required=True))
_act("reopen", "Send a resolved complaint back to its department.",
     lambda r, i, a, reason: r.reopen_complaint(i, a, reason), click.option("--reason", required=True))
_act("close", "Close a resolved complaint whose follow-up call has its outcome.",
     lambda r, i, a: r.close_complaint(i, a))


@complaints.command("followup")
@click.argument("followup_id", type=int)
@click.option("--outcome", type=click.Choice(FOLLOWUP_OUTCOMES), required=True)
@click.option("--note", default=None, help="What the customer said.")
@data_dir_option
@handle_errors
def complaints_followup(followup_id: int, outcome: str, note: str | None, data_dir: Path | None) -> None:
    """Record a follow-up call's outcome."""
    f = _records(data_dir, read_only=True).record_followup(followup_id, _actor(), outcome, note)
    click.echo(f"follow-up {f.id}: {f.outcome}")


@complaints.command("promote")
@click.argument("complaint_id", type=int)
@click.option("--issue", default=None, help="The reviewed customer issue (default: the proposed, anonymised text).")
@click.option("--resolution", default=None, help="The reviewed resolution (default: the proposed text).")
@data_dir_option
@handle_errors
def complaints_promote(complaint_id: int, issue: str | None, resolution: str | None, data_dir: Path | None) -> None:
    """Make a closed complaint a past case of the knowledge base (stop the server first, or use the
    complaint's page)."""
    from ingest.cases import promote_complaint
    from kb.knowledge import KnowledgeBase
    from kb.records.cases import case_draft

    settings = settings_for(data_dir)
    records = _records(data_dir, read_only=True)
    proposed = case_draft(records.get_complaint(complaint_id), records.followups_of(complaint_id))
    with KnowledgeBase.open(settings, writer=True) as kb:
        c = promote_complaint(kb, records, Path(settings.data_dir), complaint_id, _actor(),
                              issue or proposed["customer_issue"], resolution or proposed["resolution"])
    click.echo(f"{c.ticket_no} is now a past case of the knowledge base ({c.case_doc_id})")


@complaints.command("rules")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@data_dir_option
@json_option
@handle_errors
def complaints_rules(file: Path | None, data_dir: Path | None, as_json: bool) -> None:
    """Check a complaint rule file (default: the one in use) and print its topics and routes."""
    from kb.records.routing import ComplaintRules

    rules = ComplaintRules.load(file or settings_for(data_dir).complaint_rules)
    info = rules.describe()
    if as_json:
        emit_json(info)
        return
    click.echo(f"{info['source']}: {len(info['routes'])} routes, time zone {info['timezone']}")
    for r in info["routes"]:
        click.echo(f"  {r['topic']:<8} → {r['department']}  ({', '.join(r['keywords'][:6])}…)")
    click.echo(f"  {info['default_topic']:<8} → {info['default_department']}  (anything else)")


@main.command()
@click.option("--period", type=click.Choice(["day", "week", "month"]), default="month", show_default=True)
@click.option("--by", type=click.Choice(["team", "topic"]), default=None, help="Group by agent team or topic.")
@click.option("--since", type=click.DateTime(), default=None, help="From (default: 30 days, 12 weeks or a year back).")
@click.option("--until", type=click.DateTime(), default=None, help="Until (default: now).")
@click.option("--csv", "csv_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the rows as CSV to this file ('-' for standard output).")
@data_dir_option
@json_option
@handle_errors
def kpis(period: str, by: str | None, since: datetime | None, until: datetime | None, csv_file: Path | None,
         data_dir: Path | None, as_json: bool) -> None:
    """The service KPIs: complaint rate, on-time response, handling and follow-up, satisfaction,
    answer accuracy (dates are in the complaint rules' time zone)."""
    from api.routers.metrics import kpis_csv

    records = _records(data_dir, read_only=True)
    zone = records.rules.zone
    report = records.service_kpis(period, by, since.replace(tzinfo=zone) if since else None,
                                  until.replace(tzinfo=zone) if until else None)
    if csv_file is not None:
        text = kpis_csv(report)
        sys.stdout.write(text) if str(csv_file) == "-" else csv_file.write_text(text, encoding="utf-8")
        return
    if as_json:
        emit_json(report)
        return

    def pct(v: float | None) -> str:
        return "–" if v is None else f"{v * 100:.1f}%"

    click.echo(f"{'period':<10} {'group':<10} {'conv.':>6} {'compl.':>6} {'rate':>7} {'on time':>8} {'follow-up':>9} "
               f"{'satisfied':>9} {'accuracy':>8}")
    for r in report["rows"]:
        click.echo(f"{r['period']:<10} {r['group']:<10} {r['conversations']:>6} {r['complaints']:>6} "
                   f"{pct(r['complaint_rate']):>7} {pct(r['on_time_handling_rate']):>8} "
                   f"{pct(r['on_time_followup_rate']):>9} {pct(r['satisfaction_rate']):>9} "
                   f"{pct(r['answer_accuracy']):>8}")


@main.group()
def spotcheck() -> None:
    """Spot checks of conversations: draw a sample, grade it, list it."""


@spotcheck.command("draw")
@click.option("--size", type=click.IntRange(1, 500), default=10, show_default=True)
@click.option("--agent", default=None, help="Only this agent's conversations (user name).")
@click.option("--team", default=None)
@click.option("--topic", default=None)
@click.option("--since", type=click.DateTime(), default=None)
@click.option("--until", type=click.DateTime(), default=None)
@click.option("--seed", type=int, default=None, help="The same seed draws the same sample from the same records.")
@data_dir_option
@json_option
@handle_errors
def spotcheck_draw(size: int, agent: str | None, team: str | None, topic: str | None, since: datetime | None,
                   until: datetime | None, seed: int | None, data_dir: Path | None, as_json: bool) -> None:
    """Draw a random sample of conversations not checked before."""
    records = _records(data_dir, read_only=True)
    agent_id = None
    if agent:
        user = records.get_user_by_name(agent)
        if user is None:
            raise CiteDeskError(f"no user {agent!r}")
        agent_id = user.id
    zone = records.rules.zone
    sample, rows = records.draw_sample(_actor(), size, agent_id=agent_id, team=team, topic=topic,
                                       since=since.replace(tzinfo=zone) if since else None,
                                       until=until.replace(tzinfo=zone) if until else None, seed=seed)
    if as_json:
        emit_json({"sample": sample, "spot_checks": [{"id": r.id, "interaction_id": r.interaction_id} for r in rows]})
        return
    click.echo(f"sample {sample}: {len(rows)} conversations (grade them with `citedesk spotcheck grade`)")


@spotcheck.command("list")
@click.option("--sample", default=None)
@click.option("--pending", is_flag=True, help="Only those not graded yet.")
@data_dir_option
@json_option
@handle_errors
def spotcheck_list(sample: str | None, pending: bool, data_dir: Path | None, as_json: bool) -> None:
    """Drawn conversations with their grades."""
    rows = [{"id": sc.id, "sample": sc.sample, "interaction_id": it.id, "question": it.question,
             "accurate": sc.accurate, "complete": sc.complete, "polite": sc.polite, "compliant": sc.compliant,
             "graded_by": sc.graded_by}
            for sc, it in _records(data_dir, read_only=True).spot_checks(sample=sample, pending=pending or None)]
    if as_json:
        emit_json({"spot_checks": rows})
        return
    for r in rows:
        grade = "pending" if r["graded_by"] is None else " ".join(
            k for k in ("accurate", "complete", "polite", "compliant") if r[k]) or "failed every point"
        click.echo(f"{r['id']:>5}  {r['sample']}  #{r['interaction_id']:<6} {grade:<32} {r['question'][:40]}")


@spotcheck.command("grade")
@click.argument("spot_id", type=int)
@click.option("--accurate/--not-accurate", required=True)
@click.option("--complete/--not-complete", required=True)
@click.option("--polite/--not-polite", required=True)
@click.option("--compliant/--not-compliant", required=True)
@click.option("--comment", default=None)
@data_dir_option
@handle_errors
def spotcheck_grade(spot_id: int, accurate: bool, complete: bool, polite: bool, compliant: bool,
                    comment: str | None, data_dir: Path | None) -> None:
    """Grade a drawn conversation on the rubric."""
    records = _records(data_dir, read_only=True)
    records.grade_spot_check(spot_id, _actor(), accurate=accurate, complete=complete, polite=polite,
                             compliant=compliant, comment=comment)
    click.echo(f"graded spot check {spot_id}")
