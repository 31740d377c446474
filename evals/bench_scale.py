"""The scale benchmark (`make bench-scale`): a shared deployment on this machine — a Chroma server
it starts, the machine's PostgreSQL and Redis, 1, 2 and 4 readers (`citedesk serve`) and one writer
(`citedesk worker`) — under simulated agents with a person's pauses, 30 → 100 of them, while an
admin uploads documents. With two readers or more, one reader and the writer are killed (SIGKILL)
during the run and restarted, as a service manager would.

    python -m evals.bench_scale --demo-dir DIR [--readers 1,2,4] [--agents 30,50,75,100]

DIR is a demo knowledge base built with `citedesk demo build --data-dir DIR`; it is copied into the
shared stores once (`citedesk share`). Prints, per reader count: asks/s and p50/p95/p99 per phase,
errors, requests lost with the killed reader, the time until an upload is answered by every reader,
the writer's killed job, and the capacity with no pauses (asks/s, CPU seconds per ask) from which
docs/deployment.md sizes readers. Writes everything to WORK/results.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml
from sqlalchemy import create_engine, text

from evals.scale_cluster import Cluster
from evals.scale_load import Readers, Tally, admin, agent, send, summarize, upload_doc

SCHEMA = "citedesk_bench"


def prepare(args: argparse.Namespace) -> tuple[Cluster, dict[str, Any]]:
    base = args.database_url
    engine = create_engine(base)
    with engine.begin() as conn:  # a fresh schema of the benchmark's own
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
    engine.dispose()
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options=-csearch_path%3D{SCHEMA}"
    from kb.records.crypto import new_key

    key = new_key()  # every process of the deployment encrypts and reads the records with this one
    cluster = Cluster(Path(args.work_dir), url, args.redis_url,
                      extra_env={"CITEDESK_RATE_LIMIT_PER_MINUTE": str(args.rate_limit), "CITEDESK_ENV": "development",
                                 "CITEDESK_RECORDS_KEY": key})
    cluster.work.mkdir(parents=True, exist_ok=True)
    cluster.start_chroma()
    started = time.monotonic()
    copied = json.loads(cluster.run_cli("share", "--from-data-dir", str(args.demo_dir)).strip().splitlines()[-1])
    copied["seconds"] = round(time.monotonic() - started, 1)
    keys = make_keys(cluster.env(cluster.work / "cli"), max(args.agents) + args.saturate_clients)
    return cluster, {"copied": copied, "keys": keys}


def make_keys(env: dict[str, str], n: int) -> dict[str, Any]:
    from kb.records import Records
    from kb.settings import Settings

    records = Records.open(Settings(**{k.removeprefix("CITEDESK_").lower(): v for k, v in env.items()
                                       if k.startswith("CITEDESK_")}))
    records.migrate()
    try:
        agents = [records.create_key(f"bench-agent-{i}", "agent")[1] for i in range(n)]
        return {"agents": agents, "admin": records.create_key("bench-admin", "admin")[1]}
    finally:
        records.close()


def questions() -> list[str]:
    items = yaml.safe_load(Path("evals/sets/demo.yaml").read_text(encoding="utf-8"))
    items = items.get("items", items) if isinstance(items, dict) else items
    return [it["question"] for it in items if isinstance(it, dict) and it.get("question")]


async def chaos(cluster: Cluster, urls: list[str], tally: Tally, key: str, at: float, nonce: str,
                kill_reader: bool, out: dict[str, Any]) -> None:
    """Kill the writer in the middle of an upload's job and restart it 3 s later; with several
    readers, kill one and restart it 5 s later."""
    headers = {"Authorization": f"Bearer {key}"}
    await asyncio.sleep(max(0.0, at - time.monotonic()))
    async with httpx.AsyncClient(timeout=60) as http:
        up, data = upload_doc(999, nonce, sections=80)  # long enough to be caught mid-job
        readers = Readers(urls)
        r = await send(http, readers, tally, "POST", "/api/documents", files={"file": (up.name, data)}, headers=headers)
        job = r.json()["id"] if r is not None and r.status_code == 202 else None
        state = None
        while job and time.monotonic() < at + 120:
            got = await send(http, readers, tally, "GET", f"/api/documents/jobs/{job}", headers=headers)
            state = got.json()["status"] if got is not None and got.status_code == 200 else state
            if state != "queued":
                break
            await asyncio.sleep(0.05)
        out["writer_job_state_when_killed"] = state
        killed_at = time.monotonic()
        cluster.worker.kill()
        await asyncio.sleep(3)
        cluster.start_worker()
        if kill_reader:
            await asyncio.sleep(5)
            victim = cluster.readers[0]
            victim.kill()
            out["reader_killed_at_s"] = round(time.monotonic() - at, 1)
            await asyncio.sleep(5)
            victim.start()
        while job and time.monotonic() < killed_at + 600:
            got = await send(http, readers, tally, "GET", f"/api/documents/jobs/{job}", headers=headers)
            state = got.json()["status"] if got is not None and got.status_code == 200 else state
            if state in ("done", "failed"):
                break
            await asyncio.sleep(0.5)
        out["writer_killed_job"] = {"final": state, "seconds_from_kill_to_done": round(time.monotonic() - killed_at, 1),
                                    "title": up.title}


async def run_config(cluster: Cluster, args: argparse.Namespace, keys: dict[str, Any], qs: list[str]) -> dict[str, Any]:
    urls = [p.url for p in cluster.readers]
    readers, tally, nonce = Readers(urls), Tally(), uuid.uuid4().hex[:6]
    phase_s, steps = args.phase_seconds, args.agents
    t0 = time.monotonic() + 2
    stop_at = t0 + phase_s * len(steps)
    think = tuple(args.think)
    out: dict[str, Any] = {"readers": len(urls), "loadavg_before": os.getloadavg()[0]}
    # idle connections are closed before uvicorn's 5 s keep-alive ends, so no request is sent on a
    # connection the server is closing (that race is not a reader failure)
    limits = httpx.Limits(max_connections=max(steps) + 20, max_keepalive_connections=max(steps) + 20,
                          keepalive_expiry=3.0)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        tasks = []
        for i in range(max(steps)):
            phase = next(p for p, n in enumerate(steps) if i < n)
            tasks.append(agent(http, readers, keys["agents"][i], qs, t0 + phase * phase_s, stop_at, think, tally, i))
        count = max(1, int(phase_s * len(steps) / args.upload_every))
        uploads_task = admin(http, readers, keys["admin"], count, args.upload_every, stop_at, tally, nonce)
        tasks.append(chaos(cluster, urls, tally, keys["admin"], t0 + 0.4 * (stop_at - t0), nonce,
                           len(urls) > 1, out) if args.kill else asyncio.sleep(0))
        uploads, *_ = await asyncio.gather(uploads_task, *tasks)
    out["phases"] = [{"agents": n, **summarize(tally, t0 + i * phase_s, t0 + (i + 1) * phase_s)}
                     for i, n in enumerate(steps)]
    out["statuses"] = dict(sorted(tally.statuses.items()))
    out["server_errors"] = sum(v for k, v in tally.statuses.items() if k >= 500)
    out["lost_with_killed_reader"], out["failovers"] = tally.lost, tally.failovers
    out["other_errors"] = tally.other_errors[:10]
    full = [u for u in uploads if u.answered and len(u.answered) == len(urls)]
    spread = [max(u.answered.values()) for u in full]
    follow = [max(u.answered.values()) - u.written for u in full if u.written is not None]
    out["uploads"] = {"acknowledged": sum(1 for u in uploads if u.acked_at), "answered_by_every_reader": len(spread),
                      "seconds_median": _med(spread), "seconds_max": _max(spread),
                      "written_median": _med([u.written for u in full if u.written is not None]),
                      "after_written_median": _med(follow), "after_written_max": _max(follow)}
    cluster.wait_ready(cluster.readers)  # a restarted reader is back before the capacity run
    out["lost_uploads"] = await lost_uploads(urls[0], keys["admin"], uploads, out.get("writer_killed_job"))
    out["capacity"] = await saturate(cluster, args, keys, qs)
    out["loadavg_after"] = os.getloadavg()[0]
    return out


def _med(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def _max(values: list[float]) -> float | None:
    return round(max(values), 2) if values else None


async def lost_uploads(url: str, key: str, uploads, killed_job) -> list[str]:
    """Every acknowledged upload must end up in the knowledge base (waiting for the writer)."""
    want = {u.title for u in uploads if u.acked_at} | ({killed_job["title"]} if killed_job else set())
    headers = {"Authorization": f"Bearer {key}"}
    deadline = time.monotonic() + 600
    async with httpx.AsyncClient(timeout=60) as http:
        while True:
            titles = {d["title"] for d in (await http.get(f"{url}/api/documents", headers=headers)).json()}
            if want <= titles or time.monotonic() > deadline:
                return sorted(want - titles)
            await asyncio.sleep(2)


async def saturate(cluster: Cluster, args: argparse.Namespace, keys: dict[str, Any], qs: list[str]) -> dict[str, Any]:
    """Asks with no pauses from `saturate_clients` clients: the most the readers answer, and the
    CPU seconds each ask costs the readers (with their question-encoder processes) and Chroma."""
    readers, tally = Readers([p.url for p in cluster.readers]), Tally()
    procs = [psutil.Process(pid) for pid in cluster.pids(cluster.readers)]
    chroma = psutil.Process(cluster.chroma.pid)

    def cpu(ps) -> float:
        total = 0.0
        for p in ps:
            for q in [p, *p.children(recursive=True)]:
                try:
                    t = q.cpu_times()
                    total += t.user + t.system
                except psutil.Error:
                    pass
        return total

    before, chroma_before = cpu(procs), cpu([chroma])
    t0 = time.monotonic()
    stop_at = t0 + args.saturate_seconds
    offset = max(args.agents)
    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(keepalive_expiry=3.0)) as http:
        await asyncio.gather(*[agent(http, readers, keys["agents"][offset + i], qs, t0, stop_at, (0.0, 0.0), tally,
                                     1000 + i) for i in range(args.saturate_clients)])
    elapsed = time.monotonic() - t0
    result = summarize(tally, t0, t0 + elapsed)
    n = max(1, result["asks"])
    result.update(clients=args.saturate_clients, reader_cpu_s_per_ask=round((cpu(procs) - before) / n, 4),
                  chroma_cpu_s_per_ask=round((cpu([chroma]) - chroma_before) / n, 4),
                  errors=sum(v for k, v in tally.statuses.items() if k != 200))
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m evals.bench_scale", description=__doc__.split("\n\n")[0])
    p.add_argument("--demo-dir", type=Path, default=Path("data"), help="a demo KB (citedesk demo build --data-dir)")
    p.add_argument("--work-dir", type=Path, default=Path("data/bench-scale"))
    p.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    p.add_argument("--readers", default="1,2,4")
    p.add_argument("--agents", default="30,50,75,100")
    p.add_argument("--phase-seconds", type=float, default=40.0)
    p.add_argument("--think", default="3,12", help="seconds an agent pauses between asks: min,max")
    p.add_argument("--upload-every", type=float, default=20.0)
    p.add_argument("--saturate-seconds", type=float, default=25.0)
    p.add_argument("--saturate-clients", type=int, default=16)
    p.add_argument("--rate-limit", type=int, default=600)
    p.add_argument("--no-kill", dest="kill", action="store_false")
    args = p.parse_args(argv)
    args.readers = [int(x) for x in args.readers.split(",")]
    args.agents = [int(x) for x in args.agents.split(",")]
    args.think = [float(x) for x in args.think.split(",")]
    if not (args.demo_dir / "catalog.sqlite").is_file():
        p.error(f"{args.demo_dir} holds no knowledge base: build one with `citedesk demo build --data-dir DIR`")
    cluster, prep = prepare(args)
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1)},
                               "copied": prep["copied"], "settings": {k: str(v) for k, v in vars(args).items()},
                               "runs": []}
    qs = questions()
    try:
        cluster.start_worker()
        for n in args.readers:
            while len(cluster.readers) < n:
                cluster.add_reader()
            started = time.monotonic()
            cluster.wait_ready(cluster.readers)
            print(f"{n} reader(s) ready in {time.monotonic() - started:.0f} s; running", flush=True)
            run = asyncio.run(run_config(cluster, args, prep["keys"], qs))
            results["runs"].append(run)
            print(json.dumps(run, ensure_ascii=False), flush=True)
            (cluster.work / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=1), "utf-8")
    finally:
        cluster.stop()
    print(report(results))
    return 0 if all(r["server_errors"] == 0 and not r["lost_uploads"] for r in results["runs"]) else 1


def report(results: dict[str, Any]) -> str:
    lines = ["| readers | agents | asks/s | p50 ms | p95 ms | p99 ms |", "| --- | --- | --- | --- | --- | --- |"]
    for run in results["runs"]:
        for ph in run["phases"]:
            lines.append(f"| {run['readers']} | {ph['agents']} | {ph['asks_per_s']} | {ph['p50_ms']} | {ph['p95_ms']} | "
                         f"{ph['p99_ms']} |")
    lines += ["", "| readers | 5xx | lost with the killed reader | uploads answered by every reader (median / max s) | "
              "of which after the write (median / max s) | lost uploads | writer's killed job | capacity asks/s (p95 ms) | "
              "reader CPU s/ask |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for run in results["runs"]:
        up, cap, job = run["uploads"], run["capacity"], run.get("writer_killed_job") or {}
        lines.append(f"| {run['readers']} | {run['server_errors']} | {run['lost_with_killed_reader']} | "
                     f"{up['answered_by_every_reader']}/{up['acknowledged']} ({up['seconds_median']} / {up['seconds_max']}) | "
                     f"{up['after_written_median']} / {up['after_written_max']} | {len(run['lost_uploads'])} | {job.get('final')} after {job.get('seconds_from_kill_to_done')} s | "
                     f"{cap['asks_per_s']} ({cap['p95_ms']}) | {cap['reader_cpu_s_per_ask']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
