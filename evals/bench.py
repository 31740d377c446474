"""Performance benchmark: `python -m evals.bench` (or `make bench`).

1. Ingest throughput of the real embedder on real regulation sentences (chunks/s through
   `KnowledgeBase.upsert_document`), then the real ingest pipeline on the regulations_zh folder
   and the speed-up of ingesting the same, unchanged folder again (files are skipped by their
   content hash before parsing; nothing is embedded the second time).
2. Search latency p50/p95 and peak RSS of a serving process at 10k and 100k chunks. Chunk texts
   are synthesised by recombining real sentences of regulations_zh; their vectors are perturbed
   copies of real e5 embeddings, added to the store directly (embedding 100k passages would take
   hours on 2 cores). Each size is measured in a fresh process that only opens the knowledge base
   read-only and searches, as the web server does.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

from kb.index.lexical import chunk_tokens
from kb.index.vectorstore import VectorEntry
from kb.knowledge import KnowledgeBase
from kb.settings import Settings, get_settings
from kb.text.quotable import answer_sentences
from kb.types import Chunk, Document, make_chunk_id, make_doc_id

QUERIES = [
    "借款利息可以预先在本金中扣除吗",
    "逾期不还款要付多少利息",
    "保证人什么时候需要承担责任",
    "银行卡被盗刷了谁来赔",
    "征信报告里的不良记录保存多久",
    "个人信息被泄露可以要求赔偿吗",
    "提前还款需要支付违约金吗",
    "民间借贷的利率上限是多少",
    "电子合同有法律效力吗",
    "支付机构可以挪用备付金吗",
]


def sentences(corpora_dir: Path) -> list[str]:
    """Real sentences (clauses ending in 。；) of the regulations_zh statutes."""
    out: list[str] = []
    for path in sorted((corpora_dir / "regulations_zh").glob("*.md")):
        text = path.read_text(encoding="utf-8").split("<!-- INFO END -->")[-1]
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            for s in re.findall(r"[^。；]+[。；]", line):
                s = re.sub(r"^第[零〇一二三四五六七八九十百千]+条\s*", "", s.strip())
                if 8 <= len(s) <= 200:
                    out.append(s)
    if not out:
        raise SystemExit(f"no regulation sentences under {corpora_dir}/regulations_zh")
    return out


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def ingest_throughput(sents: list[str], n_chunks: int, data_dir: Path) -> dict[str, float]:
    """Real embedding: docs of 20 sentence-chunks each, upserted; then the same docs again."""
    docs = []
    for i in range(0, n_chunks, 20):
        doc_id = make_doc_id(f"bench:{i}")
        texts = sents[i : i + 20]
        docs.append(
            (
                Document(doc_id, f"基准文档{i // 20}", "regulation", f"bench:{i}", "\n".join(texts), {}),
                [Chunk(make_chunk_id(doc_id, t, str(j)), doc_id, t, section=f"第{j + 1}条") for j, t in enumerate(texts)],
            )
        )
    with KnowledgeBase.open(Settings(data_dir=data_dir), writer=True) as kb:
        kb.search("预热")  # model loaded before timing
        t0 = time.perf_counter()
        for doc, chunks in docs:
            kb.upsert_document(doc, chunks)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        for doc, chunks in docs:
            assert kb.upsert_document(doc, chunks).status == "unchanged"
        again = time.perf_counter() - t0
    n = sum(len(c) for _, c in docs)
    return {"chunks": n, "first_s": first, "chunks_per_s": n / first, "unchanged_s": again, "speedup": first / again}


def pipeline_reingest(corpora_dir: Path, data_dir: Path) -> dict[str, float]:
    """The real ingest pipeline on regulations_zh: first ingest, then the same unchanged folder again."""
    from ingest.pipeline import ingest_paths

    folder = corpora_dir / "regulations_zh"
    with KnowledgeBase.open(Settings(data_dir=data_dir), writer=True) as kb:
        kb.search("预热")
        t0 = time.perf_counter()
        first = ingest_paths(kb, [folder], progress=False)
        first_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = ingest_paths(kb, [folder], progress=False)
        again_s = time.perf_counter() - t0
    if first.errors or again.chunks_added:
        raise SystemExit(f"unexpected ingest result: {first.errors or again.to_dict()}")
    return {
        "documents": first.documents_added,
        "chunks": first.chunks_added,
        "first_s": first_s,
        "chunks_per_s": first.chunks_added / first_s,
        "unchanged_s": again_s,
        "speedup": first_s / max(again_s, 1e-9),
    }


def synthesise(kb: KnowledgeBase, sents: list[str], n_chunks: int, seed: int = 7) -> None:
    """n_chunks synthetic chunks (3–6 recombined real sentences each), perturbed real vectors."""
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    base_texts = sents[:400]
    base = kb.embedder.embed_passages(base_texts)
    # the answer sentences' vectors, stored at ingest (query side), perturbed copies too: a search
    # re-ranks its pool by them (kb/search/rerank.py) and must find them stored, as after a real ingest
    qbase = kb.embedder.embed_queries(base_texts)
    sentence_vectors: dict[str, np.ndarray] = {}
    per_doc = 50
    for start in range(0, n_chunks, per_doc):
        doc_id = make_doc_id(f"synthetic:{start}")
        chunks, entries, tokens = [], [], []
        for j in range(min(per_doc, n_chunks - start)):
            text = "".join(rng.sample(sents, rng.randint(3, 6)))
            chunk = Chunk(make_chunk_id(doc_id, text, str(j)), doc_id, text, section=f"第{j + 1}条",
                          meta={"ord": j, "title": f"合成文档{start // per_doc}", "kind": "regulation"})
            vec = base[rng.randrange(len(base))] + nrng.normal(0, 0.02, base.shape[1]).astype(np.float32)
            chunks.append(chunk)
            entries.append(VectorEntry(chunk.chunk_id, chunk.chunk_id, vec / np.linalg.norm(vec)))
            tokens.append(" ".join(chunk_tokens(chunk)))
        doc = Document(doc_id, f"合成文档{start // per_doc}", "regulation", f"synthetic:{start}", "", {})
        refs = {c.chunk_id: answer_sentences(c) for c in chunks}
        new = {}
        for text in (t for texts in refs.values() for t in texts):
            if text not in sentence_vectors:
                vec = qbase[rng.randrange(len(qbase))] + nrng.normal(0, 0.02, qbase.shape[1]).astype(np.float32)
                sentence_vectors[text] = new[text] = vec / np.linalg.norm(vec)
        kb.store.add(entries)
        with kb.catalog.transaction() as conn:
            kb.catalog.replace_document(conn, doc, chunks, tokens, fingerprint=doc_id)
            kb.catalog.add_sentence_vectors(conn, kb.embedder.name, new)
            kb.catalog.add_sentence_refs(conn, refs)


def serve_probe(data_dir: Path, rounds: int) -> dict[str, float]:
    """Run in a fresh process: open read-only, warm up, time searches; report latency and peak RSS."""
    with KnowledgeBase.open(Settings(data_dir=data_dir)) as kb:
        for q in QUERIES[:3]:
            kb.search(q)  # loads the model, rebuilds/loads the lexical index
        times = []
        for i in range(rounds):
            t0 = time.perf_counter()
            kb.search(QUERIES[i % len(QUERIES)], k=5)
            times.append((time.perf_counter() - t0) * 1000)
        chunks = kb.stats()["chunks"]
    return {
        "chunks": chunks,
        "p50_ms": float(np.percentile(times, 50)),
        "p95_ms": float(np.percentile(times, 95)),
        "peak_rss_mb": _peak_rss_mb(),
        # the question encoder's worker process (kb.index.encoder_process.EncoderProcess), when there is one
        "worker_rss_mb": sum(c.memory_info().rss for c in psutil.Process().children(recursive=True)) / 2**20,
    }


def scale(sents: list[str], n_chunks: int, data_dir: Path, rounds: int) -> dict[str, float]:
    t0 = time.perf_counter()
    with KnowledgeBase.open(Settings(data_dir=data_dir), writer=True) as kb:
        synthesise(kb, sents, n_chunks)
    build_s = time.perf_counter() - t0
    out = subprocess.run(
        [sys.executable, "-m", "evals.bench", "--probe", str(data_dir), "--rounds", str(rounds)],
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["build_s"] = build_s
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000", help="comma-separated chunk counts")
    ap.add_argument("--ingest-chunks", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--corpora", type=Path, default=None)
    ap.add_argument("--skip-pipeline", action="store_true", help="skip the ingest-pipeline re-ingest measurement")
    ap.add_argument("--work-dir", type=Path, default=None, help="keep the benchmark data here (default: a temp dir)")
    ap.add_argument("--probe", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.probe:
        print(json.dumps(serve_probe(args.probe, args.rounds)))
        return
    corpora = args.corpora or get_settings().corpora_dir
    sents = sentences(Path(corpora))
    with tempfile.TemporaryDirectory(prefix="citedesk-bench-") as tmp:
        if args.work_dir:
            tmp = args.work_dir
            if Path(tmp).exists() and any(Path(tmp).iterdir()):
                raise SystemExit(f"{tmp} is not empty; give a new or empty --work-dir")
        ing = ingest_throughput(sents, args.ingest_chunks, Path(tmp) / "ingest")
        print(f"upsert (sentence chunks): {ing['chunks']} chunks in {ing['first_s']:.1f} s = "
              f"{ing['chunks_per_s']:.1f} chunks/s; unchanged again {ing['unchanged_s']:.3f} s", flush=True)
        if not args.skip_pipeline:
            pipe = pipeline_reingest(Path(corpora), Path(tmp) / "pipeline")
            print(f"ingest pipeline (regulations_zh): {pipe['documents']} documents, {pipe['chunks']} chunks in "
                  f"{pipe['first_s']:.1f} s = {pipe['chunks_per_s']:.1f} chunks/s; unchanged re-ingest "
                  f"{pipe['unchanged_s']:.2f} s (x{pipe['speedup']:.0f} faster)", flush=True)
        rows = []
        for size in [int(s) for s in args.sizes.split(",") if s]:
            r = scale(sents, size, Path(tmp) / f"scale{size}", args.rounds)
            rows.append(r)
            print(f"{size}: {json.dumps(r)}", flush=True)
    print()
    print(f"{'chunks':>8} {'build s':>8} {'p50 ms':>8} {'p95 ms':>8} {'peak RSS MB':>12} {'+ worker MB':>12}")
    for r in rows:
        print(f"{r['chunks']:>8} {r['build_s']:>8.0f} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} {r['peak_rss_mb']:>12.0f}"
              f" {r['worker_rss_mb']:>12.0f}")


if __name__ == "__main__":
    main()
