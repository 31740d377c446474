"""Evaluation reports: the JSON result, a Markdown report and a standalone HTML report (inline CSS
and an inline SVG chart of accuracy over runs; no scripts, no CDN), plus the run history and the
comparison with the previous run.

A report directory holds `<set>.json|.md|.html` (the latest run of each set) and `runs/`, one JSON
file per run, which is the history the comparison and the chart read.
"""

from __future__ import annotations

import json
import re
from html import escape
from pathlib import Path
from typing import Any

from jinja2 import Environment

from evals.harness import LOWER_IS_BETTER, METRIC_KEYS
from evals.labels import (
    PER_QUESTION,
    failure_reason,
    metric_change,
    metric_help,
    metric_name,
    metric_value,
    report_text,
)

SHOWN = ("accuracy", "hit@1", "hit@3", "hit@5", "mrr", "ndcg@5", "recall@5", "key_point_coverage",
         "cited_expected", "answerable_abstained", "citation_precision", "abstention_precision", "abstention_recall", "latency_p50_ms", "latency_p95_ms")
TOPIC_KEYS = ("n", "accuracy", "hit@5", "key_point_coverage")
HTML_LANGS = {"en": ".html", "zh-CN": ".zh-CN.html"}  # the report in each UI language: <set><suffix>


def _slug(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("_") or "set"


def run_report_dir(data_dir: Path, run_id: int) -> Path:
    """Where the reports of an evaluation run started through the server are written."""
    return Path(data_dir) / "eval_reports" / str(run_id)


def load_runs(report_dir: Path, set_name: str) -> list[dict[str, Any]]:
    """Earlier results of this set from the report directory, oldest first."""
    runs = []
    for path in sorted((Path(report_dir) / "runs").glob(f"*--{_slug(set_name)}.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if data.get("set") == set_name:
            runs.append(data)
    return sorted(runs, key=lambda r: r.get("finished_at", ""))


def runs_from_records(records: Any, set_name: str) -> list[dict[str, Any]]:
    """Earlier runs of this set from the records database, oldest first (overall metrics only)."""
    out = []
    for run in reversed(records.eval_runs(set_name)):
        if run.status == "done":
            out.append({"set": set_name, "finished_at": run.created_at.isoformat(timespec="seconds"),
                        "overall": run.overall or {}, "per_question": []})
    return out


def compare(result: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any] | None:
    """Deltas of every overall metric, and the questions that changed between pass and fail."""
    if not previous:
        return None
    now, before = result["overall"], previous.get("overall", {})
    deltas = {}
    for k in METRIC_KEYS:
        a, b = now.get(k), before.get(k)
        if isinstance(a, int | float) and isinstance(b, int | float):
            d = round(a - b, 4)
            better = (d < 0) if k in LOWER_IS_BETTER else (d > 0)
            deltas[k] = {"now": a, "before": b, "delta": d, "trend": "same" if d == 0 else ("better" if better else "worse")}
    old = {q["id"]: q.get("correct") for q in previous.get("per_question", [])}
    rows = result["per_question"]
    return {
        "previous_at": previous.get("finished_at"),
        "deltas": deltas,
        "newly_failing": [q["id"] for q in rows if old.get(q["id"]) is True and not q["correct"]],
        "newly_passing": [q["id"] for q in rows if old.get(q["id"]) is False and q["correct"]],
    }


def svg_chart(points: list[tuple[str, float | None, float | None]], width: int = 640, height: int = 180,
              names: tuple[str, str] = ("accuracy", "hit@5"), label: str = "accuracy over runs") -> str:
    """Inline SVG: accuracy (solid) and hit@5 (dashed) over runs, y from 0 to 1; `names` and
    `label` in the report's language."""
    pad_l, pad_r, pad_t, pad_b = 36, 12, 12, 28
    w, h = width - pad_l - pad_r, height - pad_t - pad_b
    n = len(points)

    def xy(i: int, v: float) -> tuple[float, float]:
        x = pad_l + (w * i / (n - 1) if n > 1 else w / 2)
        return round(x, 1), round(pad_t + h * (1 - v), 1)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{escape(label)}" viewBox="0 0 {width} {height}">']
    for v in (0, 0.25, 0.5, 0.75, 1):
        _, y = xy(0, v)
        parts.append(f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{y}" y2="{y}" stroke="#ddd"/>'
                     f'<text x="{pad_l - 4}" y="{y + 4}" font-size="10" text-anchor="end">{v:g}</text>')
    for idx, (color, dash, line) in enumerate((("#1a7f37", "", names[0]), ("#0969da", "4 3", names[1]))):
        line = escape(line)
        pts = [(i, p[idx + 1]) for i, p in enumerate(points) if p[idx + 1] is not None]
        if pts:
            coords = " ".join(f"{x},{y}" for x, y in (xy(i, v) for i, v in pts))
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" stroke-dasharray="{dash}" '
                         f'points="{coords}"/>')
            for i, v in pts:
                x, y = xy(i, v)
                parts.append(f'<circle cx="{x}" cy="{y}" r="3" fill="{color}"><title>{points[i][0]}: '
                             f'{line} {v:.3f}</title></circle>')
        parts.append(f'<text x="{pad_l + 8 + 90 * idx}" y="{height - 6}" font-size="11" fill="{color}">'
                     f'{line}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.1f}" if abs(v) >= 10 else f"{v:.3f}"
    return str(v)


def _delta(cmp: dict[str, Any] | None, k: str) -> str:
    d = (cmp or {}).get("deltas", {}).get(k)
    if not d:
        return ""
    mark = "▲" if d["delta"] > 0 else ("▼" if d["delta"] < 0 else "=")
    text = f"{mark} {d['delta']:+.3f}" if abs(d["delta"]) < 10 else f"{mark} {d['delta']:+.0f}"
    return text + (f" ({d['trend']})" if k in LOWER_IS_BETTER and d["delta"] else "")


MARKDOWN = """\
# Evaluation report: {{ r.set }}

{% if r.description %}{{ r.description }}

{% endif %}Run finished {{ r.finished_at }} · {{ r.overall.n }} questions{% if r.snapshot_id %} · knowledge-base snapshot `{{ r.snapshot_id }}`{% endif %}{% if r.mode %} · answer mode {{ r.mode }}{% endif %}{% if cmp %} · compared with the run of {{ cmp.previous_at }}{% endif %}

## Overall

| metric | value | change |
| --- | ---: | ---: |
{% for k in shown if k in r.overall %}| {{ k }} | {{ fmt(r.overall[k]) }} | {{ delta(cmp, k) }} |
{% endfor %}{% for k in extra %}| {{ k }} | {{ fmt(r.overall[k]) }} | {{ delta(cmp, k) }} |
{% endfor %}
Retrieval metrics cover answerable questions with expected sources; see docs/evaluation.md for every definition.
{% if r.gate %}
**Gate:** {% if r.gate.failed %}FAILED: {{ r.gate.failed | join("; ") }}{% else %}passed ({{ r.gate.thresholds | dictsort | map("join", "≥") | join(", ") }}){% endif %}
{% endif %}{% if cmp and (cmp.newly_failing or cmp.newly_passing) %}
## Changes since the previous run

{% if cmp.newly_failing %}- now failing: {{ cmp.newly_failing | join(", ") }}
{% endif %}{% if cmp.newly_passing %}- now passing: {{ cmp.newly_passing | join(", ") }}
{% endif %}{% endif %}
## Per topic

| topic | questions | accuracy | hit@5 | key-point coverage |
| --- | ---: | ---: | ---: | ---: |
{% for t, s in r.per_topic.items() %}| {{ t }} | {{ s.n }} | {{ fmt(s.accuracy) }} | {{ fmt(s["hit@5"]) }} | {{ fmt(s.key_point_coverage) }} |
{% endfor %}
## Accuracy over runs

| run | accuracy | hit@5 |
| --- | ---: | ---: |
{% for at, acc, h5 in history %}| {{ at }} | {{ fmt(acc) }} | {{ fmt(h5) }} |
{% endfor %}
## Failures ({{ failures | length }} of {{ r.per_question | length }})
{% for q in failures %}
### {{ q.id }}: {{ q.question }}

- topic: {{ q.topic }}{% if not q.answerable %} (unanswerable: should abstain){% endif %}
- why: {{ q.failure }}
{% if q.missed_key_points %}- missed key points: {{ q.missed_key_points | join(" · ") }}
{% endif %}- answer{% if q.abstained %} (abstained){% endif %}: {{ q.answer | replace("\\n", " ") }}
{% for c in q.citations %}- [{{ c.n }}] {{ c.title }}{% if c.section %} › {{ c.section }}{% endif %}
{% endfor %}{% if q.retrieved %}- retrieved: {% for h in q.retrieved[:3] %}{{ h.title }}{% if h.section %} › {{ h.section }}{% endif %}{% if not loop.last %}; {% endif %}{% endfor %}
{% endif %}{% endfor %}
## All questions

| id | topic | result | key points | hit@5 | citations | ms |
| --- | --- | --- | ---: | ---: | ---: | ---: |
{% for q in r.per_question %}| {{ q.id }} | {{ q.topic }} | {{ "✓" if q.correct else "✗" }}{% if q.abstained %} abstained{% endif %} | {{ fmt(q.key_point_coverage) }} | {{ fmt(q["hit@5"]) }} | {{ q.citations | length }} | {{ "%.0f" % q.latency_ms }} |
{% endfor %}{% if r.ragas and (r.ragas.metrics or r.ragas.errors) %}
## ragas

Metrics: {{ r.ragas.metrics | join(", ") or "none" }}{% if not r.ragas.judge %} (no LLM judge configured){% endif %}
{% for e in r.ragas.errors %}- {{ e }}
{% endfor %}{% endif %}"""


HTML = """\
<!doctype html>
<html lang="{{ lang }}"><head><meta charset="utf-8"><link rel="icon" href="data:,">
<title>{{ s.title.format(set=r.set) }}</title>
<style>
body { font-family: "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif; margin: 2rem auto;
  max-width: 1100px; color: #1f2328; line-height: 1.5; padding: 0 1rem; }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; } td, th { border: 1px solid #d0d7de; padding: .25rem .6rem; }
th { background: #f6f8fa; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
th abbr { text-decoration: underline dotted; cursor: help; } td.help { color: #656d76; font-size: .9em; }
td.q { min-width: 16em; }
.better { color: #1a7f37; } .worse { color: #cf222e; } .ok { color: #1a7f37; } .bad { color: #cf222e; font-weight: 600; }
.fail { border-left: 4px solid #cf222e; padding: .25rem 1rem; margin: 1rem 0; background: #fff8f8; }
.answer { white-space: pre-wrap; background: #f6f8fa; padding: .5rem; } .muted { color: #656d76; }
</style></head><body>
<h1>{{ s.title.format(set=r.set) }}</h1>
<p class="muted">{{ r.description }}<br>{{ s.finished.format(at=r.finished_at, n=r.overall.n) }}
{% if r.snapshot_id %} · {{ s.snapshot }} <code>{{ r.snapshot_id }}</code>{% endif %}{% if cmp %} · {{ s.compared.format(at=cmp.previous_at) }}{% endif %}</p>
{% if r.gate %}<p class="{{ 'bad' if r.gate.failed else 'ok' }}">{{ s.gate }}: {% if r.gate.failed %}{{ s.gate_failed }}{{ r.gate.failed | join("; ") }}
{% else %}{{ s.gate_passed }}{% endif %}</p>{% endif %}
<h2>{{ s.overall }}</h2>
<table><tr><th>{{ s.metric }}</th><th>{{ s.value }}</th><th>{{ s.change }}</th><th>{{ s.meaning }}</th></tr>
{% for k in shown + extra if k in r.overall %}{% set d = cmp.deltas.get(k) if cmp else None %}
<tr><td><abbr title="{{ help(k) }}">{{ name(k) }}</abbr></td><td class="num">{{ value(k, r.overall[k]) }}</td>
<td class="num {{ d.trend if d else '' }}">{{ change(k, d.delta) if d else '' }}</td><td class="help">{{ help(k) }}</td></tr>{% endfor %}</table>
{% if cmp and (cmp.newly_failing or cmp.newly_passing) %}<h2>{{ s.changes }}</h2><ul>
{% if cmp.newly_failing %}<li class="worse">{{ s.now_failing }}{{ cmp.newly_failing | join(", ") }}</li>{% endif %}
{% if cmp.newly_passing %}<li class="better">{{ s.now_passing }}{{ cmp.newly_passing | join(", ") }}</li>{% endif %}</ul>{% endif %}
<h2>{{ s.history }}</h2>
{{ chart | safe }}
<h2>{{ s.per_topic }}</h2>
<table><tr><th>{{ s.topic }}</th>{% for k in topic_keys %}<th><abbr title="{{ help(k) }}">{{ name(k) }}</abbr></th>{% endfor %}</tr>
{% for t, m in r.per_topic.items() %}<tr><td>{{ t }}</td>{% for k in topic_keys %}<td class="num">{{ value(k, m.get(k)) }}</td>{% endfor %}</tr>{% endfor %}</table>
<h2>{{ s.failures.format(n=failures | length, total=r.per_question | length) }}</h2>
{% for q in failures %}<div class="fail" id="{{ q.id }}"><h3>{{ q.id }}: {{ q.question }}</h3>
<p>{{ s.topic }} {{ q.topic }}{% if not q.answerable %} · {{ s.should_abstain }}{% endif %}<br><b>{{ s.why }}</b> {{ reason(q) }}</p>
{% if q.missed_key_points %}<p><b>{{ s.missed }}</b> {{ q.missed_key_points | join(" · ") }}</p>{% endif %}
<div class="answer">{% if q.abstained %}{{ s.abstained_tag }}{% endif %}{{ q.answer }}</div>
{% if q.citations %}<ol>{% for c in q.citations %}<li value="{{ c.n }}">{{ c.title }}{% if c.section %} › {{ c.section }}{% endif %}
<span class="muted">{{ c.quote[:120] }}</span></li>{% endfor %}</ol>{% endif %}
{% if q.retrieved %}<p class="muted">{{ s.retrieved }}{% for h in q.retrieved[:5] %}{{ h.title }}{% if h.section %} › {{ h.section }}{% endif %}
{% if not loop.last %}; {% endif %}{% endfor %}</p>{% endif %}</div>{% endfor %}
<h2>{{ s.all }}</h2>
<table><tr><th>{{ s.id }}</th><th>{{ s.question }}</th><th>{{ s.topic }}</th><th>{{ s.result }}</th>
{% for k in question_keys %}<th><abbr title="{{ help(k) }}">{{ name(k) }}</abbr></th>{% endfor %}</tr>
{% for q in r.per_question %}<tr><td>{% if not q.correct %}<a href="#{{ q.id }}">{{ q.id }}</a>{% else %}{{ q.id }}{% endif %}</td>
<td class="q">{{ q.question }}</td><td>{{ q.topic }}</td><td class="{{ 'ok' if q.correct else 'bad' }}">{{ "✓" if q.correct else "✗" }}
{% if q.abstained %} {{ s.abstained }}{% endif %}</td>{% for k in question_keys %}<td class="num">{{ value(k, q.get(k)) }}</td>{% endfor %}</tr>{% endfor %}</table>
{% if r.ragas and (r.ragas.metrics or r.ragas.errors) %}<h2>ragas</h2><p>{{ s.ragas_metrics }}{% for m in r.ragas.metrics %}{{ name(m) }}{% if not loop.last %}, {% endif %}{% else %}{{ s.none }}{% endfor %}
{% if not r.ragas.judge %}{{ s.no_judge }}{% endif %}</p><ul>{% for e in r.ragas.errors %}<li>{{ e }}</li>{% endfor %}</ul>{% endif %}
</body></html>
"""


def _context(result: dict[str, Any], cmp: dict[str, Any] | None, history: list[dict[str, Any]]) -> dict[str, Any]:
    hist = [(h.get("finished_at", "?"), h.get("overall", {}).get("accuracy"), h.get("overall", {}).get("hit@5"))
            for h in history]
    extra = [k for k in result["overall"] if k not in SHOWN and k != "n"]
    return {"r": result, "cmp": cmp, "history": hist, "shown": list(SHOWN), "extra": extra, "fmt": _fmt, "delta": _delta,
            "failures": [q for q in result["per_question"] if not q["correct"]]}


def render_markdown(result: dict[str, Any], cmp: dict[str, Any] | None, history: list[dict[str, Any]]) -> str:
    env = Environment(autoescape=False, keep_trailing_newline=True)
    return env.from_string(MARKDOWN).render(**_context(result, cmp, history))


def render_html(result: dict[str, Any], cmp: dict[str, Any] | None, history: list[dict[str, Any]],
                lang: str = "en") -> str:
    """The standalone HTML report in `lang` ("en" or "zh-CN"): metric names with what they
    measure, values as percentages, milliseconds and counts (evals.labels)."""
    ctx = _context(result, cmp, history)
    ctx["chart"] = svg_chart(ctx["history"], names=(metric_name("accuracy", lang), metric_name("hit@5", lang)),
                             label=report_text(lang)["chart"])
    ctx.update(lang=lang, s=report_text(lang), topic_keys=TOPIC_KEYS, question_keys=PER_QUESTION,
               name=lambda k: metric_name(k, lang), help=lambda k: metric_help(k, lang),
               value=lambda k, v: metric_value(k, v, lang), change=lambda k, d: metric_change(k, d, lang),
               reason=lambda q: failure_reason(q, lang))
    env = Environment(autoescape=True)
    return env.from_string(HTML).render(**ctx)


def write_report(result: dict[str, Any], report_dir: Path, cmp: dict[str, Any] | None,
                 history: list[dict[str, Any]]) -> dict[str, Path]:
    """Write the run into the history and `<set>.json|.md|.html` (and `<set>.zh-CN.html`, the HTML
    report in Chinese); `history` includes this run."""
    report_dir = Path(report_dir)
    (report_dir / "runs").mkdir(parents=True, exist_ok=True)
    stamp = re.sub(r"[^0-9T]", "", result["finished_at"])[:15]
    blob = json.dumps(result, ensure_ascii=False, indent=1, default=str)
    run_path = report_dir / "runs" / f"{stamp}--{_slug(result['set'])}.json"
    n = 1
    while run_path.exists():
        n += 1
        run_path = report_dir / "runs" / f"{stamp}-{n}--{_slug(result['set'])}.json"
    run_path.write_text(blob, encoding="utf-8")
    base = report_dir / _slug(result["set"])
    paths = {"json": base.with_suffix(".json"), "markdown": base.with_suffix(".md")}
    paths["json"].write_text(blob, encoding="utf-8")
    paths["markdown"].write_text(render_markdown(result, cmp, history), encoding="utf-8")
    for lang, suffix in HTML_LANGS.items():
        key = "html" if lang == "en" else f"html_{lang}"
        paths[key] = base.parent / f"{base.name}{suffix}"
        paths[key].write_text(render_html(result, cmp, history, lang), encoding="utf-8")
    return paths


def html_report(report_dir: Path, lang: str) -> Path | None:
    """The HTML report of a run's directory in `lang` (the English one when there is none in it)."""
    pages = sorted(Path(report_dir).glob("*.html"))
    zh = [p for p in pages if p.name.endswith(HTML_LANGS["zh-CN"])]
    en = [p for p in pages if p not in zh]
    wanted = zh if lang == "zh-CN" else en
    return (wanted or en or pages or [None])[0]
