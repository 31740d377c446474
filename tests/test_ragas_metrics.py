"""The ragas bridge: non-LLM metrics on a hand-made sample; a failing judge is reported, not fatal."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from evals.ragas_metrics import RagasScorer
from kb.settings import Settings


def rows():
    sample = {
        "user_input": "随心贷年化利率是多少",
        "response": "随心贷年化利率为7.2%至18%。",
        "reference": "随心贷年化利率为7.2%至18%（单利）。",
        "retrieved_contexts": ["年化利率7.2%至18%，按日计息。", "提前还款免收手续费。", "逾期罚息为1.5倍。", "x"],
        "retrieved_context_ids": ["c1", "c2", "c3", "c4"],
        "reference_contexts": ["年化利率7.2%至18%，按日计息。", "额度最高20万元。"],
        "reference_context_ids": ["c1", "c9"],
    }
    return [{"id": "a", "_sample": sample}, {"id": "b"}]  # "b" abstained: no sample


def test_non_llm_metrics_by_hand(tmp_path):
    data = rows()
    info = RagasScorer(Settings(data_dir=tmp_path))(data)
    scores = data[0]["ragas"]
    assert scores["id_context_precision"] == 0.25  # 1 of 4 retrieved ids is expected
    assert scores["id_context_recall"] == 0.5  # 1 of 2 expected ids retrieved
    assert scores["nonllm_context_recall"] == 0.5  # one reference context found verbatim, the other not
    # Levenshtein: the answer lacks the 4 characters "（单利）" of the 21-character reference
    assert scores["string_similarity"] == pytest.approx(1 - 4 / 21, abs=1e-4)
    assert "ragas" not in data[1]
    assert info == {"metrics": ["id_context_precision", "id_context_recall", "nonllm_context_recall",
                                "string_similarity"], "judge": False, "errors": []}


class _Broken(BaseHTTPRequestHandler):
    calls = 0

    def do_POST(self):  # noqa: N802 - http.server API
        type(self).calls += 1
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"error": {"message": "model overloaded"}}')

    def log_message(self, *args):
        pass


@pytest.fixture()
def broken_judge():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Broken)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_failing_judge_is_reported_and_string_metrics_survive(tmp_path, broken_judge):
    settings = Settings(data_dir=tmp_path, judge_base_url=broken_judge, judge_model="qwen", llm_timeout=3)
    data = rows()
    info = RagasScorer(settings)(data)
    assert info["judge"] is True
    assert _Broken.calls >= 1  # the judge endpoint was really asked
    assert any(e.startswith("faithfulness failed on item a") for e in info["errors"])
    assert any(e.startswith("factual_correctness failed on item a") for e in info["errors"])
    assert "faithfulness" not in data[0]["ragas"]
    assert data[0]["ragas"]["id_context_recall"] == 0.5


class _Judge(BaseHTTPRequestHandler):
    """An OpenAI-compatible judge on 127.0.0.1 answering ragas' prompts by their output schema:
    two statements/claims per text, the first supported and the second not."""

    def do_POST(self):  # noqa: N802 - http.server API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][-1]["content"]
        if '"title": "NLIStatementOutput"' in prompt:
            out = {"statements": [{"statement": "s1", "reason": "stated", "verdict": 1},
                                  {"statement": "s2", "reason": "not stated", "verdict": 0}]}
        elif '"title": "StatementGeneratorOutput"' in prompt:
            out = {"statements": ["s1", "s2"]}
        elif '"title": "ClaimDecompositionOutput"' in prompt:
            out = {"claims": ["c1", "c2"]}
        elif '"title": "ResponseRelevanceOutput"' in prompt:
            out = {"question": "随心贷年化利率是多少", "noncommittal": 0}
        else:
            out = {}
        payload = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                              "choices": [{"index": 0, "finish_reason": "stop", "message": {
                                  "role": "assistant", "content": json.dumps(out, ensure_ascii=False)}}],
                              "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def test_llm_judged_metrics_through_an_openai_compatible_judge(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Judge)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        data = rows()
        info = RagasScorer(Settings(data_dir=tmp_path, judge_base_url=url, judge_model="qwen", llm_timeout=10))(data)
    finally:
        server.shutdown()
        server.server_close()
    scores = data[0]["ragas"]
    assert info["errors"] == []
    assert scores["faithfulness"] == 0.5  # 1 of 2 statements supported by the contexts
    assert scores["factual_correctness"] == 0.5  # precision 1/2, recall 1/2
    assert scores["answer_relevancy"] == pytest.approx(1.0, abs=0.01)  # the judge regenerated the question
