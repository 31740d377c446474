"""Guards around an answer: complaint detection and compliance rules.

Personal numbers are masked by kb.text.pii before anything else sees the question; this module
decides whether the customer is complaining (so the reply acknowledges their feelings and
the complaint procedure is among the sources) and whether a reply breaks a compliance rule
(forbidden promises are removed, a rate without its annualised form is flagged).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from kb.errors import ConfigError
from kb.text.norm import SURNAMES, normalize, standard_chinese, to_simplified


def _any_of(patterns) -> re.Pattern:
    """One case-insensitive pattern matching any of the given ones."""
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)

BUILTIN_RULES = Path(__file__).with_name("compliance_rules.yaml")

# Complaint signals, matched on the normalised text (Simplified, lower case), so Traditional
# input (投訴, 騙子, 暴力催收) is covered by the Simplified forms.
COMPLAINT_PATTERNS: dict[str, str] = {
    "complaint": r"投诉|申诉|举报|维权|告你们|complain|file a complaint|report (you|this)",
    # a regulator's hotline, or going to a regulator; a question about who regulates what
    # ("这种公司也归银行业的监管部门管吗", "人民银行征信中心的电话") names one without complaining
    "regulator": r"12378|12363|12315|cfpb|ombudsman"
    r"|(找|去|向|到|打给|打电话给|联系|反映给|反映到|告到|捅到)[^,，。；？?！!]{0,6}?(银保监|银监会|金融监管|人民银行|人行|消协|监管)"
    r"|\b(report|complain|go|write|escalate|take)\b[^.?!]{0,20}\bto (the |a )?(regulator|banking regulator)",
    # the customer threatening legal action, not a question about the law ("法院会支持吗",
    # "去法院起诉别人要什么证据", "对方起诉我怎么办" are questions a statute answers); 告你们 is
    # already a "complaint" signal
    "legal": r"起诉(你们|贵公司|你司)|律师函|法庭上见|法院见"
    r"|(我|我们)(要|会|就|得|准备|打算|已经|马上|一定)?[^，。；？?！!,]{0,4}(去法院|上法院|到法院|起诉|打官司|请律师|找律师|报警|仲裁)"
    r"|\b(i|we)('ll|'m going to| will| am going to| are going to)? (sue|take you to court)\b|see you in court"
    r"|\bmy (lawyer|attorney)\b|lawsuit against you",
    "media": r"曝光|媒体|记者|微博|黑猫|上热搜|journalist|the press|social media|go public",
    "harassment": r"暴力催收|骚扰|威胁|恐吓|辱骂|爆通讯录|打电话给我(家人|同事|朋友)|harass|threat|abusive",
    "anger": r"太过分|过分了|气死|骗子|骗人|垃圾|坑人|无耻|欺诈|忍无可忍|什么破|scam|fraud|ridiculous|unacceptable|outrageous|furious|angry",
}
_COMPLAINT_RE = {k: re.compile(v, re.IGNORECASE) for k, v in COMPLAINT_PATTERNS.items()}

# A forbidden phrase after one of these (same clause) is the rule being stated, not broken.
_NEGATION = re.compile(
    r"(严禁|禁止|不得|不能|不可|不应|不要|切勿|杜绝|避免|不允许|不准|never|must not|do not|don't|shall not|may not|cannot)[^，。；,;.!?！？]*$",
    re.IGNORECASE,
)
RULE_TYPES = ("forbidden_phrase", "required_disclosure")

# Requests to look up one customer's own account (balance, instalments left, application status)
# or a named person's contact details: the knowledge base holds documents, not account data, so
# the honest reply is "check it in the business system", never a guess from similar documents.
# A surname (kb.text.norm.SURNAMES) before a title is a person: "王经理", against "总经理" (a role).
ACCOUNT_PATTERNS = (
    r"(?:帮我|帮忙|麻烦你?|给我|请|^)查(一下|一查|查|下)(我|本人|客户|他|她)",
    r"(?:帮我|帮忙|麻烦你?|给我|请)查(一下|一查|查|下)?(我的|本人的|客户的)?(额度|余额|账单|欠款|还款计划|待还|账户)",
    r"我(的)?[^,，。？?！!]{0,8}?(还|一共|总共)?(欠|剩)(了)?(多少|几期|几个月|多久)",
    r"我(的)?(账户|账单|借款|贷款|额度|申请|订单)(余额|还剩|进度|状态|审批到哪|到哪一步|批下来没)",
    # whether the customer's own application or payment has gone through: 我的申请批下来了吗,
    # 我昨天还的钱到账了没, 我筆貸款批咗未 (written Cantonese: 批了未)
    r"我[^,，。？?！!]{0,12}?(申请|提额|借款|贷款|还款|还的钱|转账|付款|放款)[^,，。？?！!]{0,6}?"
    r"(批下来|审批下来|审核下来|通过|到账|到了|放下来|批)了?(吗|没|没有|嗎|沒|未)",
    # how far one's own application has got, however it is described: 我上周提交的借款申请审核到哪一步了
    r"我[^,，。？?！!]{0,16}?(申请|借款|贷款|订单|提额)[^,，。？?！!]{0,8}?(进度|审批到哪|审核到哪|到哪一步|到什么程度|什么状态)",
    # what one's own credit report shows (whether the law lets a lender report it is a question
    # for the statutes; whether it is there is a lookup): 我现在征信上有没有逾期记录
    r"我[^,，。？?！!]{0,8}?征信(上|里|报告上|报告里)?[^,，。？?！!]{0,4}?(有没有|有冇|有无|是否有|是不是有)[^,，。？?！!]{0,6}?(逾期|不良|记录|黑名单|污点)",
    # a named employee's contact details: 催收员小王的手机号, 王经理的电话 (a surname before the title;
    # 总经理 is a role, not a name)
    r"(小|老|阿)[\u4e00-\u9fa5](经理|主管|专员|师傅)?的?(手机号?|电话|微信|联系方式|住址)"
    rf"|[{SURNAMES}](经理|主管|专员|总|先生|女士|小姐)的(手机号?|电话|微信|联系方式|住址)",
    # an employee described rather than named: 给我打电话的那个客户经理姓陈，麻烦把他的手机号发我
    # (asking for *their* number, not telling that they called: 催收员姓王，天天打电话骚扰我)
    r"(经理|催收员?|业务员|专员|工作人员|员工|客服|主管)[^。？?！!]{0,6}?(姓|叫(?![我你他她嚣骂喊]))[^。？?！!]{1,24}?"
    r"((他|她|其)的?(手机号?|电话号码?|微信|联系方式|住址)|(手机号?|电话号码?|微信|联系方式)[^。？?！!]{0,6}?(给我|发我|告诉我|推给我|是多少))",
    r"\b(check|look up|see) my (account|balance|loan|application)\b|\bhow much do i (still )?owe\b",
)
_ACCOUNT_RE = _any_of(ACCOUNT_PATTERNS)

# Questions about the company's own practice: its app's menus, its branches and hours, how fast it
# pays out, its current rates and promotions. Only the company's own documents (products, FAQ,
# procedures) answer these; a statute says what the law allows, not what this company does, so a
# reply built from statutes alone is not given (kb.answer.pipeline).
COMPANY_PRACTICE_PATTERNS = (
    r"(app|客户端|小程序|网站|官网)[^,，。？?！!]{0,12}?(菜单|页面|入口|按钮|选单)",
    r"(哪个|哪一个)(菜单|页面|入口|按钮|选单)|(菜单|页面|入口|按钮|选单)[^,，。？?！!]{0,6}?(在哪|哪里|哪儿|找不到)",
    r"(网点|门店|营业厅|分公司|分行|支行|办公室)[^,，。？?！!]{0,12}?(地址|在哪|哪里|几点|开门|营业|上班|下班)",
    r"(客服|热线|电话|人工)[^,，。？?！!]{0,8}?(几点|上班|下班|营业时间|工作时间|周末)",
    r"(你们|贵公司|贵司|你司|平台)[^,，。？?！!]{0,16}?(几个工作日|几天|多久|多长时间)[^,，。？?！!]{0,4}?(放款|到账|批|审批|审核)",
    r"(审核|审批)(通过|下来|完)[^,，。？?！!]{0,12}?(几个工作日|几天|多久|多长时间)[^,，。？?！!]{0,6}?(放款|到账|打款|打到|到卡)",
    r"(你们|贵公司|贵司|你司|平台)[^,，。？?！!]{0,12}?(现在|目前|最近)[^,，。？?！!]{0,12}?(利率|利息|年化|费率|手续费)[^,，。？?！!]{0,6}?(是多少|多少|几个点)",
    r"(你们|贵公司|贵司|你司|平台)[^,，。？?！!]{0,16}?(有没有|有什么|有冇)[^,，。？?！!]{0,10}?(活动|优惠|免息券|优惠券|折扣|返现|奖励)",
    r"(推荐|邀请)[^,，。？?！!]{0,8}?(奖励|返现|红包)",
    # how to do something in the company's app: 你们app里怎么换绑银行卡
    r"(app|客户端|小程序|网站|官网)(里|上|中|内)?[^,，。？?！!]{0,6}?(怎么|如何|怎样|在哪)[^,，。？?！!]{0,4}?"
    r"(换绑|绑定|解绑|绑卡|修改|更改|更换|注销|设置|开通|关闭|取消|下载|登录|登陆)",
    # the company's own limits: 你们最高能给我批多少 (not 你们最多能收多少利息, a legal cap)
    r"(你们|贵公司|贵司|你司|平台)[^,，。？?！!]{0,10}?(最高|最多|最少|最低)[^,，。？?！!]{0,8}?(批|借|贷|给我)[^,，。？?！!]{0,4}?(多少|几)",
    # what the company's own loan costs each month: 你们家现在借一万分12期，每个月要还多少钱
    r"(你们|贵公司|贵司|你司|平台)[^。？?！!]{0,20}?(每个月|每月|每期|一个月|一期)[^,，。？?！!]{0,4}?(要|得|需要)?(还|供|交)(多少|几多)",
    r"\b(your|the) (app|website)\b[^.?!]{0,40}\b(menu|button|page|screen)\b|\bwhich (menu|button|screen)\b"
    r"|\b(menu|button|screen)\b[^.?!]{0,30}\b(your|the) (app|website)\b",
    r"\b(branch|office|hotline|call cent(er|re))\b[^.?!]{0,30}\b(open|opening hours|close|address)\b",
    r"\bhow (long|many (working |business )?days)\b[^.?!]{0,40}\b(pay ?out|disburse|approve|get the money)\b",
    r"\byour (current|latest) (interest )?rates?\b|\b(promotion|coupon|referral (bonus|reward))s?\b",
)
_COMPANY_PRACTICE_RE = _any_of(COMPANY_PRACTICE_PATTERNS)

# Questions outside consumer credit: a traffic accident, a divorce, an inheritance, a job, a rented
# flat, or a market quote (an exchange rate, a share price). The statutes of a credit company's knowledge base do not answer them, yet a lay
# question about "compensation" or "a contract" finds a consumer-law article with high evidence
# scores. Such a question is not answered unless it also speaks of credit (CREDIT_TERMS): "离婚后
# 前夫的贷款要我还吗" and "房东泄露了我的个人信息" are in scope.
OUT_OF_SCOPE_PATTERNS = (
    r"交通事故|车祸|追尾|撞车|被人撞|被车撞|撞坏|肇事|交警|驾照|违章|酒驾",
    r"离婚|抚养权|抚养费|探视权|彩礼|结婚证|分居",
    r"遗产|遗嘱|继承",
    r"劳动合同|劳动仲裁|工资|加班费|辞退|裁员|工伤|社保|公积金|年假|试用期",
    r"房东|租客|租房|退租|房租|物业费",
    r"医疗事故|医院|误诊",
    # market quotes: exchange rates, share, gold and coin prices
    r"汇率|换多少(人民币|美元|港币|港元|日元|欧元)|兑(换)?人民币|股价|股票|炒股|基金净值|金价|比特币|币价",
    r"\b(car|traffic) accident\b|\blandlord\b|\btenant\b|\bdivorce\b|\bcustody\b|\binheritance\b"
    r"|\b(my )?(employer|salary|wages|overtime)\b|\bmedical\b|\bexchange rate\b|\bstock (price|tip)s?\b|\bbitcoin\b"
    r"|\brear-?ended\b|\bcar repairs?\b|\bcar crash\b",
)
# Market quotes that do name credit: what the loan prime rate is today or will be next month. The
# statutes say how the LPR caps a rate, not what it is; a credit term does not bring these in scope.
MARKET_RATE_PATTERNS = (
    r"(现在|目前|当前|最新|今天|本月|这个月|下个月|下月|今年|明年|最近)[^,，。？?！!]{0,10}?(lpr|贷款市场报价利率|基准利率)"
    r"[^,，。？?！!]{0,8}?(是多少|多少|是几|会不会|会(下调|上调|降|涨|调|变))",
    r"(lpr|贷款市场报价利率)[^,，。？?！!]{0,6}?(现在|目前|最新|这个月|本月|下个月)[^,，。？?！!]{0,6}?(是多少|多少|会不会|会(降|涨|调|变))",
    r"\bwhat(?:'s| is) (the )?(current|today'?s|latest|next month'?s?) (one-year )?(lpr|loan prime rate)\b"
    r"|\bwill (the )?(lpr|loan prime rate)\b[^.?!]{0,20}\b(fall|drop|rise|go (up|down)|change)\b",
)
CREDIT_TERMS = (
    r"贷|借|还款|还钱|欠款|欠钱|债|利息|利率|担保|保证人|征信|信用卡|银行卡|刷卡|盗刷|分期|催收|逾期|放款|额度"
    r"|个人信息|资料|隐私|泄露|电子签|支付|转账|扣款|扣钱"
    r"|\b(loan|borrow\w*|lend\w*|credit|debt|interest|repay\w*|guarant\w*|card|instal?ments?|collect\w*|personal (data|information)|privacy)\b"
)
_OUT_OF_SCOPE_RE = _any_of(OUT_OF_SCOPE_PATTERNS)
_CREDIT_RE = re.compile(CREDIT_TERMS, re.IGNORECASE)
_MARKET_RATE_RE = _any_of(MARKET_RATE_PATTERNS)


def detect_complaint(text: str) -> list[str]:
    """The kinds of complaint signal in the text (empty when none)."""
    norm = normalize(text)
    return [kind for kind, rx in _COMPLAINT_RE.items() if rx.search(norm)]


def detect_company_practice(text: str) -> str | None:
    """The phrase that asks about the company's own practice (None when the question does not)."""
    m = _COMPANY_PRACTICE_RE.search(normalize(standard_chinese(text)))
    return m.group(0) if m else None


def detect_out_of_scope(text: str) -> str | None:
    """The phrase that puts the question outside consumer credit (None when it is in scope)."""
    norm = normalize(standard_chinese(text))
    quote = _MARKET_RATE_RE.search(norm)
    if quote is not None:
        return quote.group(0)
    m = _OUT_OF_SCOPE_RE.search(norm)
    if m is None or _CREDIT_RE.search(norm):
        return None
    return m.group(0)


def detect_account_request(text: str) -> str | None:
    """The phrase that asks for one customer's account data (None when the question does not)."""
    m = _ACCOUNT_RE.search(normalize(standard_chinese(text)))
    return m.group(0) if m else None


@dataclass(frozen=True)
class ComplianceRule:
    id: str
    type: str
    patterns: tuple[re.Pattern, ...]
    message: str
    when: tuple[re.Pattern, ...] = ()

    def forbidden_match(self, sentence: str) -> str | None:
        """The forbidden phrase the sentence states (not merely forbids), or None."""
        norm = normalize(sentence)
        for rx in self.patterns:
            for m in rx.finditer(norm):
                if not _NEGATION.search(norm[: m.start()]):
                    return m.group(0)
        return None

    def disclosure_missing(self, sentences: list[str]) -> bool:
        """A triggering sentence without the disclosure (in that sentence or elsewhere in the reply)."""
        norm = [normalize(s) for s in sentences]
        triggered = any(rx.search(s) for s in norm for rx in self.when)
        if not triggered:
            return False
        whole = " ".join(norm)
        return not any(rx.search(whole) for rx in self.patterns)


@dataclass
class ComplianceResult:
    kept: list[int]  # indexes of sentences kept
    removed: list[tuple[int, str]]  # (index, rule id) of sentences removed
    violations: list[str]  # rule ids violated, in rule order
    messages: list[str]


def _compile(patterns, where: str) -> tuple[re.Pattern, ...]:
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) and p for p in patterns):
        raise ConfigError(f"{where}: must be a non-empty list of regular expressions")
    out = []
    for p in patterns:
        try:
            # not normalize(): lower-casing would turn \D or \S into \d or \s
            out.append(re.compile(to_simplified(unicodedata.normalize("NFKC", p)), re.IGNORECASE))
        except re.error as exc:
            raise ConfigError(f"{where}: invalid regular expression {p!r}: {exc}") from exc
    return tuple(out)


def parse_rules(data, source: str = "compliance rules") -> list[ComplianceRule]:
    """Rules from parsed YAML; a ConfigError names the rule and the problem."""
    if isinstance(data, dict) and "rules" in data:
        data = data["rules"]
    if not isinstance(data, list):
        raise ConfigError(f"{source}: expected a list of rules, got {type(data).__name__}")
    rules: list[ComplianceRule] = []
    seen: set[str] = set()
    for i, item in enumerate(data, 1):
        if not isinstance(item, dict):
            raise ConfigError(f"{source}: rule #{i} is not a mapping")
        rid = item.get("id")
        if not isinstance(rid, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", rid or ""):
            raise ConfigError(f"{source}: rule #{i} needs an id of letters, digits, _ . - (got {rid!r})")
        where = f"{source}: rule {rid!r}"
        if rid in seen:
            raise ConfigError(f"{where}: duplicate id")
        seen.add(rid)
        unknown = set(item) - {"id", "type", "patterns", "message", "when"}
        if unknown:
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
        rtype = item.get("type")
        if rtype not in RULE_TYPES:
            raise ConfigError(f"{where}: type must be one of {', '.join(RULE_TYPES)} (got {rtype!r})")
        message = item.get("message")
        if not isinstance(message, str) or not message.strip():
            raise ConfigError(f"{where}: needs a message")
        patterns = _compile(item.get("patterns"), f"{where} patterns")
        when: tuple[re.Pattern, ...] = ()
        if rtype == "required_disclosure":
            when = _compile(item.get("when"), f"{where} when")
        elif "when" in item:
            raise ConfigError(f"{where}: 'when' only applies to required_disclosure rules")
        rules.append(ComplianceRule(rid, rtype, patterns, message.strip(), when))
    return rules


@lru_cache(maxsize=8)
def _load(path: str, mtime: float) -> tuple[ComplianceRule, ...]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read compliance rules {path}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"compliance rules {path} is not valid YAML: {exc}") from exc
    return tuple(parse_rules(data, f"compliance rules {Path(path).name}"))


def load_rules(path: Path | str | None = None) -> list[ComplianceRule]:
    """The rules in `path`, or the built-in rules when None. Cached until the file changes."""
    p = Path(path) if path else BUILTIN_RULES
    try:
        mtime = p.stat().st_mtime
    except OSError as exc:
        raise ConfigError(f"compliance rules file not found: {p}") from exc
    return list(_load(str(p), mtime))


def check_compliance(sentences: list[str], rules: list[ComplianceRule], exempt: set[int] | None = None) -> ComplianceResult:
    """Apply the rules to a reply given as sentences. Sentences in `exempt` (written by
    CiteDesk itself) are not removed, but still count for disclosures."""
    exempt = exempt or set()
    removed: list[tuple[int, str]] = []
    violations: list[str] = []
    messages: list[str] = []
    for rule in rules:
        if rule.type != "forbidden_phrase":
            continue
        for i, s in enumerate(sentences):
            if i in exempt:
                continue
            if rule.forbidden_match(s):
                if not any(i == r for r, _ in removed):
                    removed.append((i, rule.id))
                if rule.id not in violations:
                    violations.append(rule.id)
                    messages.append(rule.message)
    gone = {i for i, _ in removed}
    kept = [i for i in range(len(sentences)) if i not in gone]
    remaining = [sentences[i] for i in kept]
    for rule in rules:
        if rule.type == "required_disclosure" and rule.disclosure_missing(remaining):
            violations.append(rule.id)
            messages.append(rule.message)
    return ComplianceResult(kept=kept, removed=removed, violations=violations, messages=messages)
