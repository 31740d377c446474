"""Text normalisation shared by indexing and querying.

Display text keeps its original script; what is indexed and what is searched is the
normalised form: Unicode NFKC, Traditional→Simplified (OpenCC t2s), lower-case.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from functools import lru_cache

import jieba
import jieba.posseg
import opencc

jieba.setLogLevel(logging.WARNING)

_T2S = opencc.OpenCC("t2s")
_PUNCT_OR_SPACE = re.compile(r"^[\W_]+$", re.UNICODE)
# Function words that carry no topic in customer questions; BM25 would otherwise reward them.
STOPWORDS = frozenset(
    "的 了 吗 呢 吧 啊 呀 是 在 和 与 及 或 我 你 他 她 它 我们 你们 他们 请问 请 问 一下 怎么 怎样 如何 什么 "
    "哪些 哪个 为什么 可以 能 能否 会 要 有 没有 就 都 也 还 又 这 那 这个 那个 个 么 吗 嘛 哦 "
    "the a an of to is are was were be and or in on for with how what why can do does i my me you "
    "it its if this that there will would should could any when where which who your our we they without".split()
)


@lru_cache(maxsize=4096)
def to_simplified(text: str) -> str:
    """Traditional → Simplified characters (English and numbers unchanged).

    Questions are also embedded in this form: the sources are almost all in Simplified script, and
    e5 rates a Traditional question lower against a Simplified passage than the same question in
    Simplified (on the three Q&A sets, converting the 46 Traditional questions first raised
    replies citing the right source by 1 to 3 points; docs/answers.md)."""
    return _T2S.convert(text)


# Written Cantonese → standard written Chinese, for questions only (the sources are in standard
# written Chinese; e5 and BM25 find little in 我啲貸款已經還清咗，你哋仲留住我嘅資料做咩). Only the
# colloquial words and particles that do not occur in standard written Chinese, longest first;
# characters shared with it keep their meaning (係 in 關係, 仲 in 仲裁 are left alone). Hand-written
# because no maintained library does this: OpenCC converts characters, not vocabulary, and the
# Cantonese→Mandarin converters that exist are neural models fetched from a model hub.
# Entries are in Traditional script, the script Cantonese is written in; a question in Simplified
# script gets them converted by OpenCC, so a reply keeps the customer's script.
_CANTONESE_WORDS = {
    "係唔係": "是不是", "係咪": "是不是", "可唔可以": "可不可以", "使唔使": "需不需要", "得唔得": "行不行",
    "有冇": "有沒有", "冇得": "不能", "唔使": "不用", "唔好": "不要", "唔該": "請", "唔知": "不知道",
    "點解": "為什麼", "點樣": "怎樣", "點算": "怎麼辦", "做咩": "為什麼", "乜嘢": "什麼", "咩嘢": "什麼",
    "而家": "現在", "幾時": "什麼時候", "幾多": "多少", "幾耐": "多久", "好耐": "很久", "邊度": "哪裡",
    "邊個": "誰", "佢哋": "他們", "我哋": "我們", "你哋": "你們", "呢個": "這個", "嗰個": "那個",
    "呢啲": "這些", "嗰啲": "那些", "呢度": "這裡", "嗰度": "那裡", "咁樣": "這樣", "同埋": "和",
    "多啲": "多些", "少啲": "少些", "快啲": "快些", "遲啲": "晚些", "早啲": "早些", "先至": "才", "嘅話": "的話",
    "屋企人": "家人", "屋企": "家裡", "嗰陣時": "那時候", "嗰陣": "那時候", "呢排": "最近", "過身": "去世", "過咗身": "去世了",
    "睇返": "查看", "搵返": "找回", "攞返": "拿回", "俾返": "還給", "畀返": "還給", "買埋": "一起買",
    "即係": "就是", "淨係": "只是", "點知": "誰知", "邊間": "哪家", "邊種": "哪種", "邊啲": "哪些", "邊位": "哪位",
    "講明": "說明", "講清楚": "說清楚", "老細": "老闆", "嬲": "生氣",
    "咗": "了", "冇": "沒有", "嘅": "的", "佢": "他", "唔": "不", "喺": "在", "嚟": "來", "啲": "的",
    "咩": "什麼", "乜": "什麼", "睇": "看", "搵": "找", "揾": "找", "攞": "拿", "俾": "給", "畀": "給",
    "諗": "想", "嘢": "東西", "咁": "這麼", "嗰": "那", "呃": "騙", "啱": "對", "㗎": "", "喎": "", "囉": "", "咯": "",
}
# 係 and 仲 are Cantonese for 是 and 還 except in the standard words they also spell
_CANTONESE_CONTEXT = [
    (re.compile(r"(?<![關联聯維维體体派干])係(?!數|数|統|统|列)"), "是"),
    (re.compile(r"仲(?![裁介秋夏冬春])"), "還"),
    (re.compile(r"呢(?=[個个筆笔份次間间張张單单種种樣样])"), "這"),
    (re.compile(r"晒(?=[太衣被])"), "曬"),
    # 話 is 說 (said) except in the standard words it spells: 電話, 說話, 對話, 話費, 話題 …
    (re.compile(r"(?<![電电說说對对談谈講讲笑廢废神童佳情會会白大閒闲土俗打通])[話话](?![費费筒題题語语劇剧術术])"), "說"),
    # 度 after a person is "at their place": 喺你哋度 → 在你們那裡 (not 度假, 度過)
    (re.compile(r"(?<=[們们你我他她])度(?![假過过日])"), "那裡"),
]
_CANTONESE_WORDS.update({to_simplified(k): v for k, v in list(_CANTONESE_WORDS.items())})  # 點解 and 点解
_CANTONESE_PATTERN = re.compile("|".join(sorted(map(re.escape, _CANTONESE_WORDS), key=len, reverse=True)))
# characters that standard written Chinese does not use: a question without one is left unchanged
_CANTONESE_MARKERS = re.compile("[咗冇嘅哋佢唔喺嚟啲咩乜睇搵揾攞諗嘢㗎嗰]")


@lru_cache(maxsize=4096)
def standard_chinese(text: str) -> str:
    """A question in written Cantonese rewritten in standard written Chinese (other text unchanged).
    Used for searching and scoring sentences, never for what is shown."""
    if not _CANTONESE_MARKERS.search(text):
        return text
    simplified = to_simplified(text) == text
    out = _CANTONESE_PATTERN.sub(lambda m: _CANTONESE_WORDS[m.group(0)], text)
    for pattern, repl in _CANTONESE_CONTEXT:
        out = pattern.sub(repl, out)
    out = out.replace("晒", "完").replace("曬", "晒")  # 還晒 (paid it all back); 晒太陽 is kept
    return to_simplified(out) if simplified else out


def normalize(text: str) -> str:
    """NFKC + Traditional→Simplified + lower case. Length may change only through NFKC."""
    return to_simplified(unicodedata.normalize("NFKC", text)).lower()


def tokenize(text: str, *, drop_stopwords: bool = True) -> list[str]:
    """Search tokens: jieba search mode over the normalised text, punctuation dropped."""
    tokens = []
    for tok in jieba.cut_for_search(normalize(text)):
        tok = tok.strip()
        if not tok or _PUNCT_OR_SPACE.match(tok):
            continue
        if drop_stopwords and tok in STOPWORDS:
            continue
        tokens.append(tok)
    return tokens


# jieba part-of-speech tags of proper nouns: person, place and organisation names (English words
# are left out: in a Chinese knowledge base every English word would look unknown).
PROPER_NOUN_TAGS = frozenset({"nr", "nrfg", "nrt", "ns", "nt"})


PERSON_TAGS = frozenset({"nr", "nrfg", "nrt"})
# The hundred-odd most common Chinese surnames; a person's name starts with one (王磊, 小王, 王经理)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
# A word tagged as a person counts only when it is shaped like a Chinese name: a surname and a one-
# or two-character given name or title, or 小/老/阿 and a surname. jieba's tagger also calls a
# misspelt word (通迅录), an idiom (花里胡哨) or a product name (加速卡) a person; no such "name"
# makes a question unanswerable.
_NAME_SHAPE = re.compile(rf"^(?:[小老阿][{SURNAMES}]|(?:欧阳|司马|诸葛|上官|东方|慕容|[{SURNAMES}])[\u4e00-\u9fff]{{1,2}})$")
# Titles after a surname that make it a person (王经理, 李先生)
PERSON_TITLES = frozenset("经理 先生 女士 小姐 老师 主任 主管 律师 专员 总监 经办 师傅 科长 处长 局长 部长 行长 董事".split())
# Measure words that count things, never people (个 and 位 count people too, so they are not here)
_THING_MEASURES = frozenset("笔些点块张份件项次")
_REDUPLICATED = re.compile(r"^(.)一?\1$")  # 延一延, 看看: a verb form, never a name
# Words jieba's dictionary tags as names that are not: relatives and forms of address (阿叔, 阿姨,
# 老公, 岳父), 礼拜 (week), 入口 (an entrance, tagged as a place) and 别以为 ("don't think that",
# tagged as a person). A customer describing their uncle is not asking about a name.
NOT_NAMES = frozenset(
    "阿叔 阿姨 阿伯 阿婆 阿公 阿嫂 阿哥 阿姐 阿妹 阿爸 阿妈 阿爷 阿嬷 老公 老婆 岳父 岳母 公公 婆婆 "
    "丈夫 妻子 礼拜 礼拜天 礼拜日 做礼拜 入口 出口 别以为".split()
)


def proper_nouns(text: str) -> dict[str, str]:
    """Names of people, places and organisations in the text (normalised, two characters or more),
    each with its jieba tag, in order of appearance."""
    found: dict[str, str] = {}
    words = list(jieba.posseg.cut(normalize(standard_chinese(text))))
    for i, w in enumerate(words):
        previous = words[i - 1].word if i else ""
        if w.flag not in PROPER_NOUN_TAGS or len(w.word) < 2 or _REDUPLICATED.match(w.word) or w.word in NOT_NAMES:
            continue
        # after a measure word comes a thing, not a person: 这笔钱交的定金 cut as 这笔 / 钱交
        if w.flag in PERSON_TAGS and previous[-1:] in _THING_MEASURES:
            continue
        # a place or organisation tag on a word jieba's dictionary lacks is its HMM's guess (网银,
        # online banking, comes out as an organisation); real ones (深圳, 招商银行) are in the
        # dictionary. Person names are rarely in it, so their guesses stay.
        if w.flag in ("ns", "nt") and not jieba.get_FREQ(w.word):
            continue
        if w.flag in PERSON_TAGS and not _NAME_SHAPE.match(w.word):
            continue
        found.setdefault(w.word, w.flag)
    return found
