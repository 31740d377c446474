"""A bounded load test against a running `citedesk serve` (loopback only).

N clients ask questions for a fixed time and post feedback for every answer, while (with an admin
key) one document is uploaded and ingested. Then: zero 5xx, and every feedback accepted by the
server is counted in the records (through /api/metrics/accuracy). Prints p50/p95 latency and
requests per second; exit status 1 when a check fails.

    python -m api.loadtest --url http://127.0.0.1:8000 --key AGENT_KEY --admin-key ADMIN_KEY
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import urlparse

import httpx

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
QUESTIONS = ["提前还款要收违约金吗？", "逾期会上征信吗？", "罚息怎么计算？", "怎么申请提前还款？",
             "How do I repay early?", "结清证明在哪里下载？", "逾期多久会上报征信？", "分期手续费怎么收？"]
UPLOAD = "# 压测文档\n\n" + "\n\n".join(
    f"## 第{i}节 还款提醒\n\n第{i}节：每月还款日前三天发送短信提醒，扣款失败当日再次提醒。" for i in range(1, 21))


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    feedback_ok: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, status: int, seconds: float) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.latencies.append(seconds)


async def _client(http: httpx.AsyncClient, headers: dict, until: float, tally: Tally, rnd: random.Random) -> None:
    while time.monotonic() < until:
        t0 = time.monotonic()
        try:
            r = await http.post("/api/ask", json={"question": rnd.choice(QUESTIONS)}, headers=headers)
        except httpx.HTTPError as exc:
            tally.errors.append(f"ask: {type(exc).__name__}")
            continue
        tally.add(r.status_code, time.monotonic() - t0)
        if r.status_code == 429:
            await asyncio.sleep(float(r.headers.get("retry-after", "1")))
            continue
        if r.status_code != 200:
            continue
        verdict = rnd.choice(["accepted", "edited", "rejected"])
        body = {"interaction_id": r.json()["interaction_id"], "verdict": verdict}
        if verdict == "edited":
            body["edited_reply"] = "您好，已为您核实。"
        t0 = time.monotonic()
        try:
            fb = await http.post("/api/feedback", json=body, headers=headers)
        except httpx.HTTPError as exc:
            tally.errors.append(f"feedback: {type(exc).__name__}")
            continue
        tally.add(fb.status_code, time.monotonic() - t0)
        if fb.status_code == 201:
            tally.feedback_ok += 1


async def _uploader(http: httpx.AsyncClient, admin_key: str, until: float, tally: Tally) -> dict:
    headers = {"Authorization": f"Bearer {admin_key}"}
    name = f"loadtest-{int(time.time())}.md"
    r = await http.post("/api/documents", files={"file": (name, UPLOAD.encode("utf-8"))}, headers=headers)
    tally.add(r.status_code, 0.0)
    if r.status_code != 202:
        return {"status": f"upload refused ({r.status_code})"}
    job = r.json()
    while job["status"] in ("queued", "running") and time.monotonic() < until + 120:
        await asyncio.sleep(0.5)
        job = (await http.get(f"/api/documents/jobs/{job['id']}", headers=headers)).json()
    return job


async def _with_feedback(http: httpx.AsyncClient, key: str) -> int:
    r = await http.get("/api/metrics/accuracy", headers={"Authorization": f"Bearer {key}"})
    r.raise_for_status()
    return int(r.json()["overall"]["with_feedback"])


async def run(url: str, key: str, admin_key: str, clients: int, duration: float, seed: int = 0) -> dict:
    tally = Tally()
    limits = httpx.Limits(max_connections=clients + 4)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        before = await _with_feedback(http, admin_key)
        started = time.monotonic()
        until = started + duration
        headers = {"Authorization": f"Bearer {key}"}
        tasks = [_client(http, headers, until, tally, random.Random(seed + i)) for i in range(clients)]
        results = await asyncio.gather(_uploader(http, admin_key, until, tally), *tasks)
        elapsed = time.monotonic() - started
        after = await _with_feedback(http, admin_key)
    lat = sorted(x * 1000 for x in tally.latencies if x > 0)
    server_errors = sum(n for s, n in tally.statuses.items() if s >= 500)
    report = {
        "clients": clients, "duration_s": round(elapsed, 1), "requests": len(tally.latencies),
        "requests_per_s": round(len(tally.latencies) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(statistics.median(lat), 1) if lat else None,
        "p95_ms": round(lat[int(0.95 * (len(lat) - 1))], 1) if lat else None,
        "statuses": dict(sorted(tally.statuses.items())), "transport_errors": len(tally.errors),
        "feedback_posted": tally.feedback_ok, "feedback_counted": after - before,
        "upload_job": {k: results[0].get(k) for k in ("status", "error")},
    }
    report["checks"] = {
        "no_5xx": server_errors == 0 and not tally.errors,
        "no_lost_feedback": report["feedback_counted"] == tally.feedback_ok,
        "upload_ingested": report["upload_job"]["status"] == "done",
    }
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m api.loadtest", description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--key", required=True, help="an agent (or higher) API key")
    p.add_argument("--admin-key", required=True, help="an admin key: uploads a document during the run and "
                   "counts the feedback rows")
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--duration", type=float, default=60.0, help="seconds")
    args = p.parse_args(argv)
    host = urlparse(args.url).hostname or ""
    if host not in LOOPBACK:
        p.error(f"the load test runs against a loopback address only, not {host!r}")
    if not (1 <= args.clients <= 200) or not (1 <= args.duration <= 600):
        p.error("--clients must be 1..200 and --duration 1..600 seconds")
    report = asyncio.run(run(args.url, args.key, args.admin_key, args.clients, args.duration))
    print(json.dumps(report, ensure_ascii=False, indent=1))
    return 0 if all(report["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
