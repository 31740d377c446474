"""The one translation catalogue of the web UI: every user-visible string, in zh-CN and en.

Templates call `t("key")`; the sidebar script receives the `js.*` keys as JSON. The language comes
from `?lang=` (which also sets the `lang` cookie), else the cookie, else zh-CN.
"""

from __future__ import annotations

from collections.abc import Callable

LANGS = ("zh-CN", "en")
DEFAULT_LANG = "zh-CN"
COOKIE = "lang"

# key: (zh-CN, en)
_ENTRIES: dict[str, tuple[str, str]] = {
    "app.name": ("CiteDesk 知识助手", "CiteDesk"),
    "app.tagline": ("有据可查的客服答复", "Cited answers for customer service"),
    "nav.label": ("主导航", "Main navigation"),
    "nav.sidebar": ("问答助手", "Assistant"),
    "nav.qasets": ("问答集", "Q&A sets"),
    "nav.review": ("审核队列", "Review queue"),
    "nav.evals": ("评测", "Evaluations"),
    "nav.dashboard": ("看板", "Dashboard"),
    "nav.documents": ("文档", "Documents"),
    "nav.health": ("索引状态", "Index health"),
    "nav.users": ("用户与密钥", "Users & keys"),
    "nav.audit": ("审计日志", "Audit log"),
    "nav.login": ("登录", "Sign in"),
    "nav.logout": ("退出", "Sign out"),
    "nav.lang_switch": ("English", "中文"),
    "nav.signed_in_as": ("当前用户", "Signed in as"),
    "role.agent": ("坐席", "agent"),
    "role.trainer": ("培训师", "trainer"),
    "role.admin": ("管理员", "admin"),
    "login.title": ("登录", "Sign in"),
    "login.username": ("用户名", "User name"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Sign in"),
    "login.failed": ("用户名或密码不正确。", "Wrong user name or password."),
    "login.csrf_failed": ("表单已过期，请重试。", "The form has expired; please try again."),
    "error.403.title": ("无权访问", "Not allowed"),
    "error.403.body": ("您的角色无权打开此页面。", "Your role may not open this page."),
    "error.404.title": ("未找到", "Not found"),
    "error.back": ("返回问答助手", "Back to the assistant"),
    "sidebar.title": ("问答助手", "Assistant"),
    "sidebar.question": ("客户的问题", "The customer's question"),
    "sidebar.question_hint": ("粘贴客户的问题，Ctrl+Enter 提问", "Paste the customer's question; Ctrl+Enter asks"),
    "sidebar.ask": ("提问", "Ask"),
    "sidebar.kind": ("文档类型", "Document kind"),
    "sidebar.product": ("产品", "Product"),
    "sidebar.any": ("全部", "Any"),
    "sidebar.filters": ("筛选", "Filters"),
    "sidebar.reply": ("建议答复", "Suggested reply"),
    "sidebar.sources": ("来源", "Sources"),
    "sidebar.history": ("最近的问题", "Recent questions"),
    "sidebar.history_empty": ("暂无", "None yet"),
    "sidebar.copy": ("复制", "Copy"),
    "sidebar.accept": ("采纳", "Accept"),
    "sidebar.edit": ("修改", "Edit"),
    "sidebar.save_edit": ("保存修改", "Save edit"),
    "sidebar.reject": ("驳回", "Reject"),
    "sidebar.edited_label": ("修改后的答复", "Edited reply"),
    "kind.product": ("产品", "product"),
    "kind.procedure": ("流程", "procedure"),
    "kind.regulation": ("法规", "regulation"),
    "kind.faq": ("常见问题", "FAQ"),
    "kind.case": ("案例", "case"),
    "kind.other": ("其他", "other"),
    "js.asking": ("正在查询…", "Asking…"),
    "js.latency": ("耗时 {ms} 毫秒", "{ms} ms"),
    "js.confidence": ("置信度 {p}%", "confidence {p}%"),
    "js.abstained": ("知识库中没有依据 — 请升级处理", "No basis in the knowledge base — please escalate"),
    "js.nearest": ("最接近的来源：", "Nearest sources:"),
    "js.complaint": ("客户可能在投诉：请按投诉处理流程办理。", "The customer may be complaining: follow the complaint procedure."),
    "js.complaint_link": ("打开投诉处理流程", "Open the complaint procedure"),
    "js.compliance": ("合规提示：答复可能违反规则 {id}，发送前请核对。", "Compliance: the reply may break rule {id}; check it before sending."),
    "js.llm_unavailable": ("语言模型暂不可用，已改用摘录式答复。", "The language model is unavailable; this is an extractive reply."),
    "js.pii_masked": ("问题中的个人信息已被遮盖。", "Personal data in the question was masked."),
    "js.copied": ("已复制，可直接发送", "Copied, ready to send"),
    "js.copy_failed": ("复制失败，请手动选择文本", "Copy failed; select the text by hand"),
    "js.saved": ("反馈已记录：{verdict}", "Feedback recorded: {verdict}"),
    "js.verdict.accepted": ("采纳", "accepted"),
    "js.verdict.edited": ("已修改", "edited"),
    "js.verdict.rejected": ("驳回", "rejected"),
    "js.error": ("出错了：{msg}", "Something went wrong: {msg}"),
    "js.empty_question": ("请先输入问题", "Type a question first"),
    "js.expand": ("展开原文", "Show the passage"),
    "js.collapse": ("收起", "Hide"),
    "js.open_doc": ("打开文档", "Open document"),
    "js.version": ("版本", "version"),
    "js.citation": ("来源 {n}", "Source {n}"),
    "js.uploading": ("上传中 {p}%", "Uploading {p}%"),
    "js.uploaded": ("已上传，正在处理", "Uploaded; processing"),
    "js.job_done": ("处理完成", "Done"),
    "js.job_failed": ("处理失败：{msg}", "Failed: {msg}"),
    "js.confirm_delete": ("确定删除？", "Delete this?"),
    "js.eval_running": ("评测进行中（{status}）…", "Evaluation running ({status})…"),
    "js.eval_done": ("评测完成", "Evaluation finished"),
    "doc.title": ("文档", "Document"),
    "doc.kind": ("类型", "Kind"),
    "doc.version": ("版本", "Version"),
    "doc.effective": ("生效日期", "Effective"),
    "doc.expiry": ("失效日期", "Expires"),
    "doc.source": ("来源文件", "Source"),
    "doc.chunks": ("段落数", "Chunks"),
    "doc.status": ("状态", "Status"),
    "doc.product": ("产品", "Product"),
    "doc.contents": ("正文", "Contents"),
    "doc.status.active": ("有效", "active"),
    "doc.status.expired": ("已失效", "expired"),
    "doc.status.future": ("未生效", "not yet effective"),
    "widget.open": ("打开知识助手", "Open the assistant"),
    "widget.close": ("收起知识助手", "Close the assistant"),
    "demo.title": ("客户管理系统（演示）", "CRM console (demo)"),
    "demo.customer": ("客户", "Customer"),
    "demo.chat": ("会话记录", "Conversation"),
    "demo.msg1": ("您好，我想提前还款，需要支付违约金吗？", "Hello, can I repay early, and is there a fee?"),
    "demo.msg2": ("您好，我帮您查询一下。", "Hello, let me check that for you."),
    "demo.hint": ("右侧的按钮打开嵌入的知识助手。", "The button at the right edge opens the embedded assistant."),
    "qasets.title": ("问答集", "Q&A sets"),
    "qasets.name": ("名称", "Name"),
    "qasets.description": ("说明", "Description"),
    "qasets.items": ("条目数", "Items"),
    "qasets.create": ("新建问答集", "Create a set"),
    "qasets.import": ("导入 CSV/XLSX", "Import CSV/XLSX"),
    "qasets.import_file": ("文件", "File"),
    "qasets.export": ("导出", "Export"),
    "qasets.empty": ("还没有问答集。", "No Q&A sets yet."),
    "qaset.question": ("问题", "Question"),
    "qaset.reference": ("参考答案", "Reference answer"),
    "qaset.key_points": ("要点（每行一条）", "Key points (one a line)"),
    "qaset.expected_sources": ("预期来源（每行一个）", "Expected sources (one a line)"),
    "qaset.topic": ("主题", "Topic"),
    "qaset.answerable": ("可回答", "Answerable"),
    "qaset.save": ("保存", "Save"),
    "qaset.add_item": ("添加条目", "Add an item"),
    "qaset.delete": ("删除", "Delete"),
    "qaset.run_eval": ("运行评测", "Run an evaluation"),
    "review.title": ("审核队列", "Review queue"),
    "review.intro": ("被驳回和被修改的答复排在前面。", "Rejected and edited answers come first."),
    "review.answer": ("答复", "Answer"),
    "review.verdict": ("坐席反馈", "Agent feedback"),
    "review.none": ("无反馈", "no feedback"),
    "review.grade": ("评分", "Grade"),
    "review.grade.correct": ("正确", "correct"),
    "review.grade.partial": ("部分正确", "partly correct"),
    "review.grade.wrong": ("错误", "wrong"),
    "review.corrected": ("更正后的答复", "Corrected reply"),
    "review.target_set": ("加入问答集", "Into Q&A set"),
    "review.new_set": ("或新建问答集", "or a new set"),
    "review.promote": ("评分并加入问答集", "Grade and promote"),
    "review.promoted": ("已加入问答集 {name}", "Promoted into {name}"),
    "review.empty": ("暂无交互记录。", "No interactions yet."),
    "evals.title": ("评测", "Evaluations"),
    "evals.start": ("开始评测", "Start an evaluation"),
    "evals.set": ("问答集", "Q&A set"),
    "evals.run": ("编号", "Run"),
    "evals.status": ("状态", "Status"),
    "evals.score": ("得分", "Score"),
    "evals.started": ("开始时间", "Started"),
    "evals.report": ("报告", "Report"),
    "evals.empty": ("还没有评测记录。", "No evaluation runs yet."),
    "report.title": ("评测报告", "Evaluation report"),
    "report.full_html": ("完整 HTML 报告", "Full HTML report"),
    "report.overall": ("总体指标", "Overall"),
    "report.per_topic": ("按主题", "Per topic"),
    "report.per_question": ("逐题结果", "Per question"),
    "report.metric": ("指标", "Metric"),
    "report.value": ("数值", "Value"),
    "dash.title": ("看板", "Dashboard"),
    "dash.accuracy": ("准确率趋势", "Accuracy over time"),
    "dash.no_evals": ("还没有完成的评测。", "No finished evaluations yet."),
    "dash.rates": ("坐席反馈比例（近 {days} 天）", "Agent feedback (last {days} days)"),
    "dash.topic": ("主题", "Topic"),
    "dash.interactions": ("问答次数", "Questions"),
    "dash.accepted": ("采纳率", "Accepted"),
    "dash.edited": ("修改率", "Edited"),
    "dash.rejected": ("驳回率", "Rejected"),
    "dash.abstained": ("拒答率", "Abstained"),
    "dash.chart_label": ("各问答集评测得分随时间的变化", "Evaluation score of each Q&A set over time"),
    "admin.docs.title": ("文档管理", "Documents"),
    "admin.docs.upload": ("上传文档", "Upload a document"),
    "admin.docs.file": ("文件", "File"),
    "admin.docs.kind": ("类型", "Kind"),
    "admin.docs.product": ("产品", "Product"),
    "admin.docs.version": ("版本", "Version"),
    "admin.docs.effective": ("生效日期", "Effective date"),
    "admin.docs.submit": ("上传", "Upload"),
    "admin.docs.progress": ("上传进度", "Upload progress"),
    "admin.docs.delete": ("删除", "Delete"),
    "admin.docs.reingest": ("重新导入", "Re-ingest"),
    "admin.docs.actions": ("操作", "Actions"),
    "admin.docs.empty": ("知识库中还没有文档。", "The knowledge base has no documents yet."),
    "admin.health.title": ("索引状态", "Index health"),
    "admin.health.key": ("项目", "Item"),
    "admin.health.value": ("值", "Value"),
    "admin.users.title": ("用户与 API 密钥", "Users and API keys"),
    "admin.users.create": ("新建用户", "Create a user"),
    "admin.users.username": ("用户名", "User name"),
    "admin.users.role": ("角色", "Role"),
    "admin.users.password": ("密码", "Password"),
    "admin.users.active": ("启用", "Active"),
    "admin.users.created": ("用户 {name} 已创建", "User {name} created"),
    "admin.keys.title": ("API 密钥", "API keys"),
    "admin.keys.name": ("名称", "Name"),
    "admin.keys.prefix": ("前缀", "Prefix"),
    "admin.keys.create": ("新建密钥", "Create a key"),
    "admin.keys.shown_once": ("新密钥只显示这一次，请立即保存：", "The new key is shown only this once; store it now:"),
    "admin.keys.revoke": ("吊销", "Revoke"),
    "admin.keys.revoked": ("已吊销", "revoked"),
    "admin.keys.status": ("状态", "Status"),
    "admin.keys.live": ("有效", "active"),
    "admin.audit.title": ("审计日志", "Audit log"),
    "admin.audit.actor": ("操作人", "Actor"),
    "admin.audit.action": ("操作", "Action"),
    "admin.audit.target": ("对象", "Target"),
    "admin.audit.at": ("时间", "Time"),
    "admin.audit.detail": ("详情", "Detail"),
    "admin.audit.filter": ("筛选", "Filter"),
    "admin.audit.since": ("起始日期", "Since"),
    "admin.audit.empty": ("没有匹配的记录。", "No matching events."),
    "common.yes": ("是", "yes"),
    "common.no": ("否", "no"),
    "common.error": ("错误", "Error"),
}

CATALOGUE: dict[str, dict[str, str]] = {
    "zh-CN": {k: v[0] for k, v in _ENTRIES.items()},
    "en": {k: v[1] for k, v in _ENTRIES.items()},
}


def normalise_lang(value: str | None) -> str | None:
    """A supported language code for `value` ("en", "en-US", "zh", "zh-CN"...), or None."""
    if not value:
        return None
    v = value.strip().lower()
    if v.startswith("en"):
        return "en"
    if v.startswith("zh"):
        return "zh-CN"
    return None


def translate(key: str, lang: str = DEFAULT_LANG, **params: object) -> str:
    """The string for `key` in `lang`, with `{name}` placeholders filled. A missing key is a bug:
    it raises KeyError so tests catch it rather than showing the key to a user."""
    text = CATALOGUE.get(lang, CATALOGUE[DEFAULT_LANG])[key]
    return text.format(**params) if params else text


def translator(lang: str) -> Callable[..., str]:
    def t(key: str, **params: object) -> str:
        return translate(key, lang, **params)

    return t


def js_strings(lang: str) -> dict[str, str]:
    """The strings the page scripts need (keys starting with js., kind. and sidebar.)."""
    cat = CATALOGUE.get(lang, CATALOGUE[DEFAULT_LANG])
    return {k: v for k, v in cat.items() if k.startswith(("js.", "kind.", "sidebar."))}
