"""The catalogue entries of the trainer's reports and the index-health page (merged into ui.i18n's
one catalogue): key → (zh-CN, en). Metric names and what they measure are evals.labels'."""

from __future__ import annotations

ENTRIES: dict[str, tuple[str, str]] = {
    "report.meaning": ("含义", "What it measures"),
    "report.result": ("结果", "Result"),
    "report.correct": ("正确", "correct"),
    "report.wrong": ("错误", "wrong"),
    "report.abstained": ("已拒答", "withheld"),
    "report.snapshot": ("知识库版本", "knowledge-base version"),
    "report.snapshot_help": ("评测时知识库的快照编号：知识库内容变化后编号也会变化，可据此对比两次评测是否基于同一份资料。",
                             "The knowledge base's snapshot when the run was made: it changes whenever the documents change."),
    "report.hover_hint": ("将鼠标停在指标名称上可查看说明；“–”表示没有适用的题目，无法计算。",
                          "Hover over a metric's name for what it measures; \"–\" means no question it applies to."),
    "report.latest": ("最近一次评测 · {name} #{id}", "Latest run · {name} #{id}"),
    # what an answer was flagged with (the topics of the dashboard's feedback table)
    "flag.complaint": ("客户投诉", "complaint"),
    "flag.account_lookup": ("账户查询（需到业务系统）", "account lookup (business system)"),
    "flag.no_company_source": ("无本公司文档", "no company document"),
    "flag.out_of_scope": ("超出消费信贷范围", "outside consumer credit"),
    "flag.figure_not_in_sources": ("来源未写明所问数字", "figure not in the sources"),
    "flag.pii_masked": ("含个人信息（已遮盖）", "personal data masked"),
    "flag.llm_unavailable": ("语言模型不可用", "language model unavailable"),
    "flag.llm_no_answer": ("语言模型认为无法回答", "language model found no answer"),
    "flag.llm_unsupported": ("语言模型答复无来源支持", "language-model reply unsupported"),
    "flag.compliance": ("合规提示：{rule}", "compliance: {rule}"),
    "compliance.guaranteed_approval": ("承诺审批结果", "promised approval"),
    "compliance.no_credit_check": ("宣称不查征信", "claimed no credit check"),
    "compliance.no_credit_reporting": ("承诺不上征信", "promised no credit reporting"),
    "compliance.insider_channel": ("宣称内部渠道", "claimed an insider channel"),
    "compliance.rate_annualised": ("利率未以年化展示", "rate not annualised"),
    # the index-health page: what each figure is
    "health.documents": ("文档数", "Documents"),
    "health.chunks": ("段落数", "Passages"),
    "health.vectors": ("向量数（应与段落数一致）", "Vectors (as many as passages)"),
    "health.embedder": ("向量模型", "Embedding model"),
    "health.embedder_spec": ("向量模型设置", "Embedding model setting"),
    "health.collection": ("向量库集合", "Vector collection"),
    "health.chroma": ("向量库", "Vector store"),
    "health.chroma.embedded": ("内置（数据目录中）", "embedded (in the data directory)"),
    "health.snapshot_id": ("知识库版本", "Knowledge-base version"),
    "health.catalog_snapshot_id": ("文档目录版本", "Catalogue version"),
    "health.lexical_snapshot_id": ("关键词索引版本", "Keyword-index version"),
    "health.data_dir": ("数据目录", "Data directory"),
    "health.snapshot_help": ("每次文档变化后更新；三个版本号一致说明索引已同步。",
                             "Changes whenever the documents change; the three versions agree when the indexes are in step."),
}
