"""The question encoder in numpy (kb/index/query_encoder.py, what serves) against the same network
in ONNX Runtime: latency per question, resident memory, and how far the vectors differ.

    python -m evals.bench_query_encoder [--questions evals/sets/demo.yaml] [--repeat 3] [--data-dir DIR]

With --data-dir (a knowledge base holding the questions' documents, e.g. `citedesk demo build`), it
also searches with each side's vectors and prints every question whose top-10 chunks differ.

The ONNX graph is built here from the very weights QueryEncoder holds (the adapter merged at the
strength search uses), with the `onnx` package (`pip install onnx`; not a dependency of CiteDesk),
and run by onnxruntime (already installed: chromadb depends on it) with one thread, as the worker
runs numpy with one BLAS thread. Each side runs in a process of its own so its memory is its own.
The answer to "should serving switch to ONNX Runtime" is written beside QueryEncoder.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

OPSET = 17  # LayerNormalization


def onnx_graph(enc) -> bytes:
    """QueryEncoder's 12 layers, mean pooling and normalisation as one ONNX graph; the input is the
    embedding layer's output (T, H), which stays in numpy (the 4-bit word table is looked up there)."""
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    hd = enc.dim // enc.heads

    def const(name, array):
        inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(kind, inputs, name, **attrs):
        nodes.append(helper.make_node(kind, inputs, [name], **attrs))
        return name

    const("heads_shape", np.array([0, enc.heads, hd], dtype=np.int64))
    const("flat_shape", np.array([0, enc.dim], dtype=np.int64))
    const("scale", np.array(1.0 / np.sqrt(hd), dtype=np.float32))
    const("half", np.array(0.5, dtype=np.float32))
    const("one", np.array(1.0, dtype=np.float32))
    const("rsqrt2", np.array(1.0 / np.sqrt(2.0), dtype=np.float32))
    x = "x"
    for n, ly in enumerate(enc.layers):
        p = f"l{n}"
        for short in ("q", "k", "v", "ao", "fi", "fo"):
            const(f"{p}.{short}.w", ly[short][0])
            const(f"{p}.{short}.b", ly[short][1])
        for short in ("aln", "oln"):
            const(f"{p}.{short}.w", ly[short][0])
            const(f"{p}.{short}.b", ly[short][1])

        def linear(inp, short, p=p):
            return op("Add", [op("MatMul", [inp, f"{p}.{short}.w"], f"{p}.{short}.mm.{inp}"), f"{p}.{short}.b"],
                      f"{p}.{short}.out")

        heads = {}
        for short in "qkv":
            r = op("Reshape", [linear(x, short), "heads_shape"], f"{p}.{short}.r")
            heads[short] = op("Transpose", [r], f"{p}.{short}.t", perm=[1, 0, 2])
        kt = op("Transpose", [heads["k"]], f"{p}.kt", perm=[0, 2, 1])
        att = op("Mul", [op("MatMul", [heads["q"], kt], f"{p}.qk"), "scale"], f"{p}.att")
        ctx = op("MatMul", [op("Softmax", [att], f"{p}.sm", axis=-1), heads["v"]], f"{p}.ctx")
        ctx = op("Reshape", [op("Transpose", [ctx], f"{p}.ctx.t", perm=[1, 0, 2]), "flat_shape"], f"{p}.ctx.r")
        x = op("LayerNormalization", [op("Add", [x, linear(ctx, "ao")], f"{p}.res1"), f"{p}.aln.w", f"{p}.aln.b"],
               f"{p}.x1", axis=-1, epsilon=float(enc.eps))
        mid = linear(x, "fi")
        gelu = op("Mul", [op("Mul", [mid, "half"], f"{p}.g0"),
                          op("Add", [op("Erf", [op("Mul", [mid, "rsqrt2"], f"{p}.g1")], f"{p}.g2"), "one"], f"{p}.g3")],
                  f"{p}.gelu")
        x = op("LayerNormalization", [op("Add", [x, linear(gelu, "fo")], f"{p}.res2"), f"{p}.oln.w", f"{p}.oln.b"],
               f"{p}.x2", axis=-1, epsilon=float(enc.eps))
    pooled = op("ReduceMean", [x], "pooled", axes=[0], keepdims=0)
    op("LpNormalization", [op("Unsqueeze", [pooled, const("zero", np.array([0], dtype=np.int64))], "pooled2")],
       "y", axis=-1, p=2)
    graph = helper.make_graph(
        nodes, "e5-lay-query", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", enc.dim])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, enc.dim])], inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    return model.SerializeToString()


def adapter_dir() -> Path:
    """The query adapter search uses with the default settings: the first loaded bundle's."""
    from kb.bundles import load_bundles
    from kb.index.query_encoder import ADAPTER_FOLDER
    from kb.settings import Settings

    adapters = [b.part(ADAPTER_FOLDER) for b in load_bundles(Settings().bundles) if b.part(ADAPTER_FOLDER)]
    if not adapters:
        raise SystemExit("no loaded bundle has a query adapter (CITEDESK_BUNDLES)")
    return adapters[0]


def _embedded(enc, text: str) -> np.ndarray:
    """The embedding layer as QueryEncoder._forward computes it."""
    from kb.index.query_encoder import _layer_norm, dequantize

    ids = enc.tokenizer.ids("query: " + text)
    x = dequantize(enc.word[ids].reshape(-1, enc.word.shape[-1])).reshape(len(ids), enc.dim)
    return _layer_norm(x + enc.pos[: len(ids)], *enc.emb_ln, enc.eps)


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def run_side(side: str, questions: list[str], repeat: int) -> dict:
    """One side in this process: vectors, per-question latency (best of `repeat`), memory."""
    from kb.index.encoder_process import LAY_STRENGTH
    from kb.index.query_encoder import QueryEncoder

    adapter = adapter_dir()
    before = rss_mb()
    enc = QueryEncoder(adapter, strength=LAY_STRENGTH)
    if side == "numpy":
        embed = lambda text: enc.embed([text])[0]  # noqa: E731
    else:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1
        opts.enable_cpu_mem_arena = False  # no arena kept beyond a question's tensors
        graph = onnx_graph(enc)
        session = ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])
        enc.layers = None  # the session holds its own copy of the weights
        del graph

        def embed(text):
            return session.run(["y"], {"x": _embedded(enc, text).astype(np.float32)})[0][0]
    import gc

    gc.collect()
    loaded = rss_mb()
    vectors, times = [], []
    for q in questions:
        best = float("inf")
        for _ in range(repeat):
            t = time.perf_counter()
            v = embed(q)
            best = min(best, time.perf_counter() - t)
        vectors.append(np.asarray(v, dtype=np.float32))
        times.append(best * 1000)
    return {"vectors": np.vstack(vectors).tolist(), "ms": times, "rss_loaded_mb": loaded, "rss_before_mb": before,
            "rss_peak_mb": rss_mb()}


def compare_searches(data_dir: str, questions: list[str]) -> None:
    """Search the knowledge base with each side embedding the questions (in this process); print
    the top-10 chunk ids wherever they differ."""
    import onnxruntime as ort

    from kb.index import encoder_process
    from kb.index.query_encoder import QueryEncoder
    from kb.knowledge import KnowledgeBase
    from kb.settings import Settings

    enc = QueryEncoder(adapter_dir(), strength=encoder_process.LAY_STRENGTH)
    session = ort.InferenceSession(onnx_graph(enc), providers=["CPUExecutionProvider"])
    sides = {
        "numpy": enc.embed,
        "onnx": lambda texts: np.vstack([session.run(["y"], {"x": _embedded(enc, t).astype(np.float32)})[0]
                                         for t in texts]).astype(np.float32),
    }

    class Side:  # stands in for the worker process
        embed = None

    tops = {}
    for side, embed in sides.items():
        Side.embed = staticmethod(lambda texts, embed=embed: embed(texts) if texts else enc.embed(texts))
        encoder_process._lay_query_encoder = lambda adapter: Side()
        encoder_process._lay_questions_embedder.cache_clear()  # and its cache of question vectors
        with KnowledgeBase.open(Settings(data_dir=data_dir)) as kb:
            tops[side] = [[(h.chunk.chunk_id, h.score) for h in kb.search(q, k=10)] for q in questions]
    same_ids = same_scores = 0
    for q, a, b in zip(questions, tops["numpy"], tops["onnx"], strict=True):
        if [c for c, _ in a] == [c for c, _ in b]:
            same_ids += 1
            same_scores += a == b
        else:
            print(f"differs: {q}\n  numpy {[c for c, _ in a]}\n  onnx  {[c for c, _ in b]}")
    diff = max((abs(x[1] - y[1]) for a, b in zip(tops["numpy"], tops["onnx"], strict=True)
                for x, y in zip(a, b, strict=False)), default=0.0)
    print(f"search top-10: same chunks in the same order for {same_ids}/{len(questions)} questions, "
          f"same scores for {same_scores}; largest score difference {diff:.1e}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", default="evals/sets/demo.yaml")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data-dir", help="also compare the top-10 search results on this knowledge base")
    ap.add_argument("--side", choices=["numpy", "onnx"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    from evals.qaset import load_qaset

    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise SystemExit(f"this benchmark builds an ONNX graph: pip install onnx ({exc})") from exc
    questions = [item.question for item in load_qaset(args.questions).items]
    if args.side:  # the child: one side, JSON on stdout
        print(json.dumps(run_side(args.side, questions, args.repeat)))
        return
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = {}
    for side in ("numpy", "onnx"):
        proc = subprocess.run([sys.executable, "-m", "evals.bench_query_encoder", "--questions", args.questions,
                               "--repeat", str(args.repeat), "--side", side],
                              capture_output=True, text=True, env=env, check=True)
        out[side] = json.loads(proc.stdout.strip().splitlines()[-1])
    a, b = np.array(out["numpy"]["vectors"]), np.array(out["onnx"]["vectors"])
    cos = (a * b).sum(axis=1)
    print(f"{len(questions)} questions of {args.questions}, best of {args.repeat}, one thread each")
    for side in ("numpy", "onnx"):
        ms = np.array(out[side]["ms"])
        print(f"{side:6s} latency p50 {np.percentile(ms, 50):.1f} ms, p95 {np.percentile(ms, 95):.1f} ms; resident "
              f"{out[side]['rss_loaded_mb'] - out[side]['rss_before_mb']:.0f} MB for the encoder, "
              f"{out[side]['rss_peak_mb']:.0f} MB in all")
    print(f"vectors: cosine min {cos.min():.7f}, max abs difference {np.abs(a - b).max():.2e}, "
          f"identical rows {(a == b).all(axis=1).sum()}/{len(a)}")
    if args.data_dir:
        compare_searches(args.data_dir, questions)


if __name__ == "__main__":
    main()
