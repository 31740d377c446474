"""The LLM composer against a real HTTP server on 127.0.0.1 speaking the OpenAI
chat-completions protocol."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kb.answer.llm import LLMComposer, LLMNoAnswer, build_messages
from kb.errors import ConfigError, LLMError
from kb.settings import Settings
from kb.types import Chunk, Hit


class StandInLLM:
    """An OpenAI-compatible endpoint: POST /v1/chat/completions answers `reply`, or an HTTP
    `status`, or sleeps `delay` seconds first; every request body is kept in `requests`."""

    def __init__(self) -> None:
        self.reply = "借款的利息不得预先在本金中扣除[1]。"
        self.status = 200
        self.delay = 0.0
        self.raw: bytes | None = None
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.append(body.decode("utf-8"))
                if outer.delay:
                    time.sleep(outer.delay)
                if outer.status != 200:
                    payload = json.dumps({"error": {"message": "boom"}}).encode()
                    self.send_response(outer.status)
                else:
                    payload = outer.raw if outer.raw is not None else json.dumps({
                        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "stand-in",
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": outer.reply}}],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    }, ensure_ascii=False).encode("utf-8")
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def settings(self, **kw) -> Settings:
        return Settings(llm_base_url=self.url, llm_model="stand-in", llm_api_key="k", **kw)


@pytest.fixture
def llm():
    with StandInLLM() as server:
        yield server


HITS = [
    Hit(Chunk("c1", "d1", "第六百七十条 借款的利息不得预先在本金中扣除。", section="第六百七十条",
              meta={"title": "民法典 借款合同"}), 0.9),
    Hit(Chunk("c2", "d2", "逾期超过三十日的，将报送征信。", meta={"title": "还款规则"}), 0.7),
]


def test_reply_is_split_into_marked_sentences(llm):
    llm.reply = "借款的利息不得预先在本金中扣除[1]。逾期超过30天会报送征信[2]。"
    pieces = LLMComposer(llm.settings()).compose("利息能先扣吗", HITS)
    assert [p.text for p in pieces] == ["借款的利息不得预先在本金中扣除[1]。", "逾期超过30天会报送征信[2]。"]
    assert not any(p.own for p in pieces)


def test_prompt_numbers_the_sources_and_holds_the_question(llm):
    LLMComposer(llm.settings()).compose("利息能先扣吗", HITS)
    body = json.loads(llm.requests[-1])
    assert body["model"] == "stand-in"
    user = body["messages"][-1]["content"]
    assert "[1] 民法典 借款合同 第六百七十条" in user and "[2] 还款规则" in user
    assert user.endswith("客户问题：利息能先扣吗")
    assert "[n]" not in body["messages"][0]["content"] and "[1]" in body["messages"][0]["content"]


def test_english_prompt():
    messages = build_messages("Can interest be deducted?", HITS, english=True)
    assert "Customer question: Can interest be deducted?" in messages[-1]["content"]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ({"status": 500}, "HTTP 500"),
        ({"status": 401}, "HTTP 401"),
        ({"reply": "   "}, "empty"),
        ({"reply": "好的，我明白了。没问题。"}, "cites no source"),
        ({"raw": b"<html>not json</html>"}, "unusable"),
        ({"raw": b'{"choices": []}'}, "without a message"),
    ],
)
def test_failures_raise_llm_error(llm, setup, message):
    for k, v in setup.items():
        setattr(llm, k, v)
    with pytest.raises(LLMError, match=message):
        LLMComposer(llm.settings()).compose("利息能先扣吗", HITS)


def test_timeout_gives_way_quickly(llm):
    llm.delay = 2.0
    started = time.perf_counter()
    with pytest.raises(LLMError, match="did not answer within"):
        LLMComposer(llm.settings(llm_timeout=0.3)).compose("利息能先扣吗", HITS)
    assert time.perf_counter() - started < 1.5  # no retries


def test_connection_refused():
    with StandInLLM() as server:
        settings = server.settings()
    with pytest.raises(LLMError, match="cannot reach"):
        LLMComposer(settings).compose("利息能先扣吗", HITS)


def test_model_saying_it_cannot_answer(llm):
    llm.reply = "无法回答"
    with pytest.raises(LLMNoAnswer):
        LLMComposer(llm.settings()).compose("今天天气如何", HITS)


def test_needs_url_and_model():
    with pytest.raises(ConfigError, match="CITEDESK_LLM_BASE_URL"):
        LLMComposer(Settings(llm_base_url=None, llm_model=None))
