"""What each evaluation metric is called and means, in the UI's languages, and how its value is
shown: the HTML report and the trainer's pages print these instead of the metric keys
(docs/evaluation.md has the full definitions).

A value is shown by its kind: a rate as a percentage (0.853 → 85.3%), a score between 0 and 1 with
two decimals, a latency in milliseconds, a count as a whole number; a metric that could not be
measured (no item it applies to) as a dash, never "None".
"""

from __future__ import annotations

from typing import Any

LANGS = ("zh-CN", "en")

# key: (kind, zh-CN name, en name, zh-CN explanation, en explanation)
METRICS: dict[str, tuple[str, str, str, str, str]] = {
    "n": ("count", "题数", "questions", "参与评测的问题数。", "Number of questions evaluated."),
    "accuracy": ("rate", "准确率", "accuracy",
                 "答对的题目占比：可回答的题答出了要点并引用了正确来源，不可回答的题拒答。",
                 "Share of questions answered correctly: an answerable one with its key points and a right source, an unanswerable one withheld."),
    "hit@1": ("rate", "命中率@1", "hit@1", "检索结果第 1 条就是预期来源的题目占比。",
              "Share of questions whose first retrieved passage is an expected source."),
    "hit@3": ("rate", "命中率@3", "hit@3", "预期来源出现在检索结果前 3 条中的题目占比。",
              "Share of questions with an expected source among the first 3 retrieved passages."),
    "hit@5": ("rate", "命中率@5", "hit@5", "预期来源出现在检索结果前 5 条中的题目占比。",
              "Share of questions with an expected source among the first 5 retrieved passages."),
    "recall@5": ("rate", "召回率@5", "recall@5", "前 5 条检索结果找到的预期来源占全部预期来源的比例（平均）。",
                 "Share of a question's expected sources found in the first 5 passages (averaged)."),
    "mrr": ("score", "平均倒数排名", "MRR", "第一个预期来源排名的倒数的平均值：排第 1 得 1，排第 2 得 0.5，没找到得 0。",
            "Mean of 1 / rank of the first expected source: 1 at rank 1, 0.5 at rank 2, 0 when not found."),
    "ndcg@5": ("score", "排序质量@5", "nDCG@5", "前 5 条检索结果的排序质量（0–1）：预期来源越靠前越高。",
               "Quality of the first 5 passages' order (0–1): higher when expected sources come first."),
    "key_point_coverage": ("rate", "要点覆盖率", "key-point coverage", "答复中包含的参考要点所占比例（可回答的题）。",
                           "Share of the reference key points a reply contains (answerable questions)."),
    "cited_expected": ("rate", "引用正确来源率", "cited a right source", "可回答的题中，给出答复且引用了预期来源的占比。",
                       "Share of answerable questions answered with a citation of an expected source."),
    "answerable_abstained": ("rate", "误拒答率", "wrongly withheld", "可回答的题却被拒答的占比（越低越好）。",
                             "Share of answerable questions withheld (lower is better)."),
    "citation_precision": ("rate", "引用准确率", "citation precision", "答复引用的来源中属于预期来源的比例。",
                           "Share of a reply's citations that are expected sources."),
    "abstention_precision": ("rate", "拒答准确率", "abstention precision", "拒答的题中确实无法回答的占比。",
                             "Share of withheld questions that really cannot be answered."),
    "abstention_recall": ("rate", "拒答召回率", "abstention recall", "无法回答的题中被正确拒答的占比。",
                          "Share of unanswerable questions that were withheld."),
    "latency_p50_ms": ("ms", "响应时间中位数", "median latency", "一半的答复在此时间内完成。", "Half the replies took at most this long."),
    "latency_p95_ms": ("ms", "响应时间 P95", "95th-percentile latency", "95% 的答复在此时间内完成。",
                       "95 in 100 replies took at most this long."),
    "latency_ms": ("ms", "耗时", "time", "这道题的答复用时。", "Time this reply took."),
    "confidence": ("rate", "置信度", "confidence", "系统估计答复引用了正确来源的概率。",
                   "CiteDesk's estimate that the reply cites a right source."),
    "first_expected_rank": ("count", "预期来源排名", "rank of expected source", "第一个预期来源在检索结果中的名次。",
                            "Position of the first expected source among the retrieved passages."),
    "id_context_precision": ("rate", "上下文精确率（按编号）", "context precision (ids)", "检索到的段落中属于预期来源的比例（ragas）。",
                             "Share of retrieved passages that are expected sources (ragas)."),
    "id_context_recall": ("rate", "上下文召回率（按编号）", "context recall (ids)", "预期来源被检索到的比例（ragas）。",
                          "Share of expected sources retrieved (ragas)."),
    "nonllm_context_recall": ("rate", "上下文召回率（按文本）", "context recall (text)", "预期来源文本被检索段落覆盖的比例（ragas）。",
                              "Share of expected source texts covered by retrieved passages (ragas)."),
    "string_similarity": ("score", "与参考答案的文字相似度", "similarity to the reference", "答复与参考答案的字面相似度（ragas）。",
                          "Textual similarity of reply and reference answer (ragas)."),
    "faithfulness": ("rate", "忠实度", "faithfulness", "答复中有来源支持的陈述占比（ragas，需评审模型）。",
                     "Share of a reply's statements its sources support (ragas, needs a judge model)."),
    "factual_correctness": ("score", "事实正确性", "factual correctness", "答复与参考答案事实一致的程度（ragas，需评审模型）。",
                            "How far reply and reference agree on facts (ragas, needs a judge model)."),
    "answer_relevancy": ("score", "答复相关性", "answer relevancy", "答复切题的程度（ragas，需评审模型）。",
                         "How far the reply addresses the question (ragas, needs a judge model)."),
}
# the columns of a per-question table: few enough to read at desktop width
PER_QUESTION = ("key_point_coverage", "hit@5", "citation_precision", "latency_ms")
NOT_MEASURED = "–"


def _i(lang: str) -> int:
    return 0 if lang == "zh-CN" else 1


def metric_name(key: str, lang: str = "zh-CN") -> str:
    """The metric's name in `lang` (a metric this module does not know keeps its key)."""
    m = METRICS.get(key)
    return m[1 + _i(lang)] if m else key


def metric_help(key: str, lang: str = "zh-CN") -> str:
    """What the metric measures, one sentence in `lang` (empty for an unknown metric)."""
    m = METRICS.get(key)
    return m[3 + _i(lang)] if m else ""


def metric_value(key: str, value: Any, lang: str = "zh-CN") -> str:
    """The value as a trainer reads it: 85.3%, 0.91, 1,234 ms, 119; a dash when not measured."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return NOT_MEASURED if value is None or isinstance(value, bool) or value == "" else str(value)
    kind = METRICS.get(key, ("score",))[0]
    if kind == "count":
        return f"{value:,.0f}"
    if kind == "rate":
        return f"{value * 100:.1f}%"
    if kind == "ms":
        return f"{value:,.0f} 毫秒" if lang == "zh-CN" else f"{value:,.0f} ms"
    return f"{value:.2f}"


# the HTML report's words: key → (zh-CN, en)
REPORT_TEXT: dict[str, tuple[str, str]] = {
    "title": ("评测报告：{set}", "Evaluation report: {set}"),
    "finished": ("完成于 {at} · 共 {n} 题", "Run finished {at} · {n} questions"),
    "snapshot": ("知识库快照", "snapshot"),
    "compared": ("对比上次评测（{at}）", "compared with the run of {at}"),
    "gate": ("达标线", "Gate"),
    "gate_failed": ("未达标：", "FAILED: "),
    "gate_passed": ("已达标", "passed"),
    "overall": ("总体指标", "Overall"),
    "metric": ("指标", "metric"),
    "value": ("数值", "value"),
    "change": ("变化", "change"),
    "meaning": ("含义", "what it measures"),
    "changes": ("与上次评测相比", "Changes since the previous run"),
    "now_failing": ("新出错的题：", "now failing: "),
    "now_passing": ("新答对的题：", "now passing: "),
    "history": ("历次评测的准确率", "Accuracy over runs"),
    "per_topic": ("按主题", "Per topic"),
    "topic": ("主题", "topic"),
    "failures": ("答错的题（{total} 题中有 {n} 题）", "Failures ({n} of {total})"),
    "should_abstain": ("无法回答的题：应当拒答", "unanswerable: should abstain"),
    "why": ("原因：", "why:"),
    "missed": ("遗漏的要点：", "missed key points:"),
    "abstained_tag": ("[已拒答] ", "[abstained] "),
    "retrieved": ("检索到：", "retrieved: "),
    "all": ("全部题目", "All questions"),
    "id": ("编号", "id"),
    "question": ("问题", "question"),
    "result": ("结果", "result"),
    "abstained": ("已拒答", "abstained"),
    "ragas_metrics": ("指标：", "metrics: "),
    "none": ("无", "none"),
    "no_judge": ("（未配置评审模型）", "(no LLM judge configured)"),
    "chart": ("历次评测的准确率", "accuracy over runs"),
}


def report_text(lang: str) -> dict[str, str]:
    """The HTML report's words in `lang`."""
    return {k: v[_i(lang)] for k, v in REPORT_TEXT.items()}


def failure_reason(row: dict[str, Any], lang: str = "zh-CN") -> str:
    """Why a per-question row counts as wrong, in `lang` (the harness words it in English,
    evals.harness._failure; this says the same from the row's fields)."""
    if lang != "zh-CN":
        return str(row.get("failure") or "")
    if row.get("error"):
        return f"答题出错：{row['error']}"
    if not row.get("answerable", True):
        return "知识库无法回答这道题，却给出了答复（应当拒答）"
    parts = []
    if row.get("abstained"):
        rank = row.get("first_expected_rank")
        parts.append("可以回答却拒答了" + (f"（预期来源已检索到，排第 {rank} 名）" if rank else
                                           ("（没有检索到预期来源）" if row.get("expects_source") else "")))
    missed = row.get("missed_key_points") or []
    if missed and not row.get("abstained"):
        parts.append("遗漏要点：" + "、".join(missed))
    if not row.get("key_points") and not row.get("abstained") and not row.get("cited_expected"):
        parts.append("没有引用预期来源")
    if row.get("expects_source") and row.get("hit@5") == 0.0:
        parts.append("检索前 5 条中没有预期来源")
    return "；".join(parts) or str(row.get("failure") or "")


def metric_change(key: str, delta: float, lang: str = "zh-CN") -> str:
    """A change since the previous run in the metric's own unit: ▼ -66.7 个百分点, ▲ +12 ms, = 0.00."""
    mark = "▲" if delta > 0 else ("▼" if delta < 0 else "=")
    kind = METRICS.get(key, ("score",))[0]
    zh = lang == "zh-CN"
    if kind == "rate":
        return f"{mark} {delta * 100:+.1f} " + ("个百分点" if zh else "pts")
    if kind == "ms":
        return f"{mark} {delta:+,.0f} " + ("毫秒" if zh else "ms")
    if kind == "count":
        return f"{mark} {delta:+,.0f}"
    return f"{mark} {delta:+.2f}"
