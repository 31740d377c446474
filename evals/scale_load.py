"""The load of the scale benchmark: simulated agents asking with a person's pauses, spread over
the readers as a reverse proxy would (round robin; a reader that refuses connections is skipped
and the request goes to the next, like nginx's `proxy_next_upstream error`), and an admin
uploading documents and timing how long until every reader answers from them.

A request that was in flight on a reader when it was killed is counted as `lost`, apart from the
errors: those are the "killed requests" a crash may cost. Everything stays on loopback."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

LOOPBACK = ("http://127.0.0.1:", "http://localhost:")


@dataclass
class Tally:
    asks: list[tuple[float, float]] = field(default_factory=list)  # (start time, latency in s) of each 200
    statuses: dict[int, int] = field(default_factory=dict)
    lost: int = 0  # in flight on a reader that was killed
    failovers: int = 0  # refused by a reader that was down, sent to the next
    other_errors: list[str] = field(default_factory=list)


class Readers:
    """Round robin over reader URLs, skipping the ones that refused a connection a moment ago."""

    def __init__(self, urls: list[str]) -> None:
        assert all(u.startswith(LOOPBACK) for u in urls), "the benchmark only talks to loopback addresses"
        self.urls = list(urls)
        self._next = 0
        self._down_until: dict[str, float] = {}

    def order(self) -> list[str]:
        now = time.monotonic()
        n = len(self.urls)
        start, self._next = self._next, (self._next + 1) % n
        ring = [self.urls[(start + i) % n] for i in range(n)]
        return [u for u in ring if self._down_until.get(u, 0) <= now] + [u for u in ring if self._down_until.get(u, 0) > now]

    def refused(self, url: str) -> None:
        self._down_until[url] = time.monotonic() + 1.0


async def send(http: httpx.AsyncClient, readers: Readers, tally: Tally, method: str, path: str, **kw) -> httpx.Response | None:
    """One request through the 'proxy': None when it was lost with a killed reader (or all refused).
    As the nginx example of docs/deployment.md does, a refused connection goes to the next reader,
    and so does a GET answered 503 (nginx does not send a POST that reached a reader again)."""
    last = None
    for url in readers.order():
        try:
            r = await http.request(method, url + path, **kw)
            if r.status_code == 503 and method == "GET" and last is None and len(readers.urls) > 1:
                last = r
                readers.refused(url)
                tally.failovers += 1
                continue
            return r
        except httpx.ConnectError:
            readers.refused(url)
            tally.failovers += 1
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
            readers.refused(url)
            tally.lost += 1
            return None
        except httpx.HTTPError as exc:
            tally.other_errors.append(f"{type(exc).__name__}: {exc}")
            return None
    if last is not None:
        return last
    await asyncio.sleep(0.5)  # every reader refused: the whole service is down
    tally.other_errors.append("no reader accepted the connection")
    return None


async def agent(http, readers: Readers, key: str, questions: list[str], start_at: float, stop_at: float,
                think: tuple[float, float], tally: Tally, seed: int) -> None:
    rnd = random.Random(seed)
    await asyncio.sleep(max(0.0, start_at - time.monotonic()) + rnd.uniform(0, think[1]))
    headers = {"Authorization": f"Bearer {key}"}
    while time.monotonic() < stop_at:
        t0 = time.monotonic()
        r = await send(http, readers, tally, "POST", "/api/ask", json={"question": rnd.choice(questions)},
                       headers=headers)
        if r is not None:
            tally.statuses[r.status_code] = tally.statuses.get(r.status_code, 0) + 1
            if r.status_code == 200:
                tally.asks.append((t0, time.monotonic() - t0))
        if think[1] > 0:
            await asyncio.sleep(rnd.uniform(*think))


@dataclass
class Upload:
    name: str
    title: str
    token: str
    acked_at: float | None = None
    job_id: str | None = None
    written: float | None = None  # seconds after the 202 until the writer's job was done
    answered: dict[str, float] = field(default_factory=dict)  # reader url -> seconds after the 202


def upload_doc(n: int, nonce: str, sections: int = 1) -> tuple[Upload, bytes]:
    """A document only this upload contains the token of (and `sections` sections of body)."""
    title, token = f"压测公告{nonce}{n}", f"压测编号{nonce}{n}"
    body = "".join(f"## 说明{i}\n\n{token}：自下月起，本公司客服热线的服务时间调整为每日八点至二十二点，节假日照常服务，"
                   f"第{i}条。客户咨询{token}时，请告知新的服务时间。\n\n" for i in range(sections))
    return Upload(f"bench-{nonce}-{n}.md", title, token), f"# {title}\n\n{body}".encode()


async def admin(http, readers: Readers, key: str, count: int, every: float, stop_at: float, tally: Tally,
                nonce: str, on_enqueued=None) -> list[Upload]:
    """Upload `count` documents `every` seconds apart; for each, the seconds until each reader's
    search answers it first. An upload refused or lost is sent again (the admin retries)."""
    headers = {"Authorization": f"Bearer {key}"}
    uploads: list[Upload] = []
    for n in range(count):
        up, data = upload_doc(n, nonce)
        while time.monotonic() < stop_at + 120:
            r = await send(http, readers, tally, "POST", "/api/documents", files={"file": (up.name, data)},
                           headers=headers)
            if r is not None and r.status_code == 202:
                up.acked_at, up.job_id = time.monotonic(), r.json()["id"]
                break
            await asyncio.sleep(1.0)
        uploads.append(up)
        if on_enqueued is not None:
            on_enqueued(up)
        await probe(http, readers, up, key, deadline=time.monotonic() + 300)
        await asyncio.sleep(max(0.0, every - (time.monotonic() - (up.acked_at or time.monotonic()))))
        if time.monotonic() > stop_at:
            break
    return uploads


async def probe(http, readers: Readers, up: Upload, key: str, deadline: float) -> None:
    """Ask every reader, a few times a second, until each answers the upload first."""
    if up.acked_at is None:
        return
    headers = {"Authorization": f"Bearer {key}"}
    pending = set(readers.urls)
    while pending and time.monotonic() < deadline:
        if up.written is None:
            try:
                job = await http.get(f"{readers.order()[0]}/api/documents/jobs/{up.job_id}", headers=headers)
                if job.status_code == 200 and job.json()["status"] == "done":
                    up.written = time.monotonic() - up.acked_at
            except httpx.HTTPError:
                pass
        for url in list(pending):
            try:
                r = await http.post(url + "/api/search", json={"query": up.token, "k": 1}, headers=headers)
            except httpx.HTTPError:
                continue  # a reader down for a restart: it is asked again when it is back
            results = r.json().get("results", []) if r.status_code == 200 else []
            if results and results[0]["title"] == up.title:
                up.answered[url] = time.monotonic() - up.acked_at
                pending.discard(url)
        await asyncio.sleep(0.25)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def summarize(tally: Tally, start: float, end: float) -> dict[str, Any]:
    lat = [secs * 1000 for t, secs in tally.asks if start <= t < end]
    span = max(1e-9, end - start)
    return {"asks": len(lat), "asks_per_s": round(len(lat) / span, 2),
            "p50_ms": _r(percentile(lat, 0.50)), "p95_ms": _r(percentile(lat, 0.95)), "p99_ms": _r(percentile(lat, 0.99))}


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 1)
