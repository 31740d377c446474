import pytest

from kb.answer.compliance import check_compliance, load_rules
from kb.answer.guards import load_guards
from kb.bundles import shipped
from kb.errors import ConfigError

CREDIT_CS = (shipped("credit_cs"),)
GUARDS = load_guards(CREDIT_CS)
detect_complaint = GUARDS.complaint_signals
detect_account_request = GUARDS.account_request
detect_company_practice = GUARDS.company_practice_phrase
detect_out_of_scope = GUARDS.out_of_scope_phrase


@pytest.fixture(scope="module")
def rules():
    return load_rules(bundles=CREDIT_CS)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("我要投诉你们！", "complaint"),
        ("我要去12378投訴你們", "regulator"),
        ("再这样我就去法院起诉", "legal"),
        ("我要去法院告你們", "legal"),
        ("我已经报警了", "legal"),
        ("I'm going to sue you", "legal"),
        ("我要找记者曝光你们", "media"),
        ("你们的催收天天骚扰我家人", "harassment"),
        ("你們這是暴力催收", "harassment"),
        ("太过分了，简直是骗子", "anger"),
        ("這群騙子", "anger"),
        ("I will file a complaint with the CFPB", "regulator"),
        ("再不处理我就去银保监会反映", "regulator"),
        ("我要打电话给人民银行说你们乱收费", "regulator"),
        ("I'll report you to the regulator", "regulator"),
        ("This is a scam and I'm furious", "anger"),
    ],
)
def test_complaints_are_detected(text, kind):
    assert kind in detect_complaint(text)


@pytest.mark.parametrize(
    "text",
    ["利息怎么计算？", "提前还款需要手续费吗", "How do I change my repayment date?",
     # questions about the law that mention a court are not threats to go to one
     "逾期利率约定得特别高，法院会全部支持吗", "去法院起诉别人欠钱，要准备什么证据",
     "对方拿着借条去法院告我，要谁拿证据？", "我跟你們客服的聊天記錄，能拿去法院當證據嗎？",
     "Does a court enforce a verbal loan agreement?",
     # questions that name a regulator without going to one
     "我的车贷是在金融租赁公司办的，这种公司也归银行业的监管部门管吗？", "人民银行征信中心在哪里查征信？",
     "My bank got taken over by the regulator, do I still repay as usual?"],
)
def test_ordinary_questions_are_not_complaints(text):
    assert detect_complaint(text) == []


@pytest.mark.parametrize(
    "text",
    ["帮我查一下我随心贷还欠多少钱", "麻烦查下客户张三的手机号", "我的车主贷还剩几期没还", "我還欠多少錢",
     "我的贷款审批到哪一步了", "How much do I still owe?", "Can you check my account balance?",
     "我的身份证号是[身份证号]，帮我查下额度", "麻烦查一下账单", "我昨天提交的提额申请审批下来了吗？",
     "我上午还的钱到账了没", "我嘅貸款申請批下來了嗎？", "我前天交的贷款申请现在是什么状态？",
     "我月初提交的提额申请审核到哪了", "麻烦看看我征信上有没有不良记录", "我的征信报告里有没有逾期？",
     "催收员小李的电话是多少", "把你们张经理的微信给我", "我筆貸款批咗未呀？", "我的借款批了没有",
     # an employee described rather than named
     "昨天来电的那个业务员姓刘，把他的微信推给我", "催收员叫王强，我要他的电话号码"],
)
def test_requests_for_one_customers_account_are_recognised(text):
    assert detect_account_request(text)


@pytest.mark.parametrize(
    "text",
    ["别人没经过我同意能查我的征信吗", "银行放贷前会查我哪些情况", "提前还款怎么还", "我的车开了9年还能办车主贷吗",
     "逾期多久会上征信", "How do I check my credit report?", "额度怎么提升", "账单日是哪天", "在哪里查额度",
     "借款申请一般多久能批下来？", "我还款以后多久能到账？", "逾期记录会在我征信上留多久？",
     "我征信上的逾期记录是错的，怎么申请更正？", "你们客服电话是多少？", "催收员能打我家人的电话吗？", "你们总经理的手机号是多少",
     "客服叫我把手机号发过去，安全吗？", "催收员姓什么我都不知道，他能随便打我电话吗？",
     "催收员姓王，天天打电话骚扰我", "催收员叫嚣要去我单位，还一直打我电话"],
)
def test_questions_about_rules_are_not_account_requests(text):
    assert detect_account_request(text) is None


def test_forbidden_promises_are_removed_and_flagged(rules):
    sentences = ["您好，", "我们保证通过，而且不查征信。", "借款利息不得预先扣除[1]。", "走内部渠道可以更快。"]
    result = check_compliance(sentences, rules, exempt={0})
    assert result.kept == [0, 2]
    assert dict(result.removed) == {1: "guaranteed_approval", 3: "insider_channel"}
    assert result.violations == ["guaranteed_approval", "no_credit_check", "insider_channel"]


def test_english_forbidden_promises(rules):
    result = check_compliance(["Guaranteed approval, no credit check!"], rules)
    assert result.kept == [] and {"guaranteed_approval", "no_credit_check"} <= set(result.violations)


def test_stating_the_rule_is_not_breaking_it(rules):
    result = check_compliance(["客服人员严禁向客户承诺包过或不查征信。", "We never promise guaranteed approval."], rules)
    assert result.kept == [0, 1] and result.violations == []


def test_rate_must_be_annualised(rules):
    assert check_compliance(["这笔借款的利率为24%[1]。"], rules).violations == ["rate_annualised"]
    assert check_compliance(["日利率为万分之五。"], rules).violations == ["rate_annualised"]
    assert check_compliance(["年化利率为24%[1]。"], rules).violations == []
    assert check_compliance(["The annualised interest rate is 7.2%."], rules).violations == []
    assert check_compliance(["借款期限为12个月。"], rules).violations == []


def _write(tmp_path, text):
    p = tmp_path / "rules.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_custom_rules_file(tmp_path):
    path = _write(
        tmp_path,
        "- id: no_cash\n  type: forbidden_phrase\n  patterns: ['现金(交易|还款)']\n  message: 不得引导现金交易\n",
    )
    rules = load_rules(path)
    result = check_compliance(["您可以用现金还款。"], rules)
    assert result.violations == ["no_cash"] and result.messages == ["不得引导现金交易"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("- id: a\n  type: forbidden_phrase\n  patterns: ['(unclosed']\n  message: m\n", "invalid regular expression"),
        ("- id: a\n  type: banned\n  patterns: [x]\n  message: m\n", "type must be one of"),
        ("- id: a\n  type: forbidden_phrase\n  message: m\n", "patterns"),
        ("- id: a\n  type: required_disclosure\n  patterns: [x]\n  message: m\n", "when"),
        ("- type: forbidden_phrase\n  patterns: [x]\n  message: m\n", "needs an id"),
        ("- id: a\n  type: forbidden_phrase\n  patterns: [x]\n", "needs a message"),
        ("- id: a\n  type: forbidden_phrase\n  patterns: [x]\n  message: m\n" * 2, "duplicate id"),
        ("id: a\n", "expected a list"),
        ("- id: a\n  type: [unclosed\n", "not valid YAML"),
    ],
)
def test_malformed_rules_file_is_a_config_error_naming_the_problem(tmp_path, text, problem):
    with pytest.raises(ConfigError, match=problem.replace("(", r"\(")):
        load_rules(_write(tmp_path, text))


def test_missing_rules_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_rules(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    "text",
    ["你们APP里的提前还款按钮在哪个菜单下面？", "我想换一张扣款的银行卡，要点哪个菜单？", "你們APP要怎麼換綁銀行卡？在哪個選單裡？",
     "你们线下服务网点周六开不开门？", "你们客服热线几点上班？", "我今天提交的申请，你们一般几个工作日能放款到账？",
     "你们现在新客借款的年化利率是多少？", "你们最近有没有免息券之类的活动？", "推荐朋友来借款有没有奖励？",
     "你哋而家嘅年利率係幾多？", "Where is the early repayment button in your app?",
     "Is your branch in Shenzhen open on Saturday?", "How many working days does it take to pay out my loan?",
     "What is your current interest rate?", "Do you have any promotion for new customers?",
     "申请审批通过后一般几天能放款？", "审核通过后要等几天钱才能打到卡上？",
     "你们app里怎么换绑银行卡啊", "在小程序上如何注销账号？", "你们最高能给我批多少额度", "平台最多能借几万？",
     "在你们这借两万分24期，每期要还多少？", "平台借5000块一个月要还多少钱"],
)
def test_questions_about_the_companys_own_practice_are_recognised(text):
    assert detect_company_practice(text)


@pytest.mark.parametrize(
    "text",
    ["我不同意你们APP获取我的相册和位置，结果就不让我用了，这合理吗？", "你们收的利息超过法律规定的上限了吗？",
     "你们乱报我的征信，我还能去哪里投诉？", "提前还款要提前多久通知你们？", "逾期以后你们会收多少罚息？",
     "借款的利息能预先从本金里扣除吗？", "Can the interest be deducted from the principal in advance?",
     "Is an interest rate above four times the LPR legal?", "Can your app read my contacts without consent?",
     "你们最多能收多少利息？法律有上限吗", "在app上签的电子合同有效吗",
     "逾期以后每个月要还多少利息才合法？"],
)
def test_questions_about_the_rules_are_not_about_the_companys_practice(text):
    assert detect_company_practice(text) is None


@pytest.mark.parametrize(
    "text",
    ["我的车在停车场被人撞了，对方不肯赔修车钱怎么办？", "老婆要跟我离婚，孩子的抚养费一般判多少？",
     "爷爷的房子没有遗嘱，几个子女怎么分？", "老板拖了我三个月工资，能去劳动仲裁吗？",
     "房东不退押金还说我弄坏了家具，我该怎么办？", "醫院誤診耽誤了治療，可以索賠嗎？",
     "My landlord kept my deposit, what can I do?", "I was in a car accident, who pays for the repairs?",
     "今天一美元能换多少人民币？", "這隻股票明天會唔會升？", "What's the euro exchange rate today?",
     "Someone rear-ended me on the highway, who covers it?",
     # what the loan prime rate is or will be is a market quote, credit term or not
     "这个月的一年期LPR是多少？", "下个月贷款市场报价利率会不会下调", "下个月LPR会降吗", "What is the current LPR?", "Will the LPR go down next month?"],
)
def test_legal_questions_outside_consumer_credit_are_recognised(text):
    assert detect_out_of_scope(text)


@pytest.mark.parametrize(
    "text",
    # the same life events, asked about credit, are in scope
    ["离婚后前夫名下的贷款要我一起还吗？", "父亲去世留下的信用卡欠款，子女要继承债务吗？",
     "公司用我的工资卡自动扣了还款，合法吗？", "房东把我的身份证复印件和个人信息泄露给了别人，怎么办？",
     "出了车祸住院，这个月的贷款还不上，能申请延期吗？", "I lost my job, can I delay my loan repayment?",
     # and ordinary credit questions
     "借款的利息能预先从本金里扣除吗？", "信用卡被盗刷了银行还要我还吗？", "贷款利率跟着LPR变，下个月会降吗？",
     "现在LPR是3.1%，民间借贷利率最高能到多少？", "民间借贷的利率上限是LPR的几倍？",
     "最近LPR降了，我的贷款利率会跟着降吗？", "Is a rate above four times the current LPR legal?"],
)
def test_credit_questions_are_in_scope(text):
    assert detect_out_of_scope(text) is None
