"""The processes of a shared deployment on one machine, for the scale benchmark (evals/bench_scale.py):
a Chroma server (`chroma run`), reader processes (`citedesk serve`, one port each) and the writer
(`citedesk worker`), on the machine's PostgreSQL and Redis. Every process is started by this
object and stopped by it, by its own pid; `kill` is a SIGKILL (a crash), `restart` what a service
manager does afterwards."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from api.cli import main; main()", *args]


@dataclass
class Proc:
    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    url: str | None = None
    popen: subprocess.Popen | None = None
    kills: int = 0

    def start(self) -> Proc:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log, "ab")  # noqa: SIM115 - handed to the child, closed with it
        self.popen = subprocess.Popen(self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        return self

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        if self.alive():
            os.kill(self.popen.pid, signal.SIGKILL)
            self.popen.wait(30)
            self.kills += 1

    def stop(self, timeout: float = 30) -> None:
        if self.alive():
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Cluster:
    work: Path
    database_url: str
    redis_url: str
    readers: list[Proc] = field(default_factory=list)
    worker: Proc | None = None
    chroma: Proc | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def chroma_url(self) -> str:
        return self.chroma.url if self.chroma else ""

    def env(self, data_dir: Path) -> dict[str, str]:
        return {**os.environ, "CITEDESK_DATA_DIR": str(data_dir), "CITEDESK_DATABASE_URL": self.database_url,
                "CITEDESK_CHROMA_URL": self.chroma_url, "CITEDESK_REDIS_URL": self.redis_url, **self.extra_env}

    def start_chroma(self) -> None:
        exe = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
        if exe is None:
            raise RuntimeError("the chroma command (from chromadb) is not installed")
        port = free_port()
        path = self.work / "chroma"
        shutil.rmtree(path, ignore_errors=True)
        self.chroma = Proc("chroma", [exe, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                           dict(os.environ), self.work / "logs" / "chroma.log", url=f"http://127.0.0.1:{port}").start()
        wait_http(f"{self.chroma.url}/api/v2/heartbeat", self.chroma, 60)

    def start_worker(self) -> Proc:
        if self.worker is None:
            data = self.work / "writer"
            self.worker = Proc("writer", _cli("worker"), self.env(data), self.work / "logs" / "writer.log")
        return self.worker.start()

    def add_reader(self) -> Proc:
        i = len(self.readers)
        port = free_port()
        data = self.work / f"reader{i}"
        proc = Proc(f"reader{i}", _cli("serve", "--host", "127.0.0.1", "--port", str(port)), self.env(data),
                    self.work / "logs" / f"reader{i}.log", url=f"http://127.0.0.1:{port}")
        self.readers.append(proc.start())
        return proc

    def wait_ready(self, procs: list[Proc], seconds: float = 600) -> None:
        for p in procs:
            wait_http(f"{p.url}/healthz", p, seconds)

    def run_cli(self, *args: str, data_dir: Path | None = None) -> str:
        done = subprocess.run(_cli(*args), env=self.env(data_dir or self.work / "cli"), capture_output=True,
                              text=True, timeout=3600)
        if done.returncode != 0:
            raise RuntimeError(f"citedesk {' '.join(args)} failed: {done.stderr[-2000:]}")
        return done.stdout

    def stop_readers(self) -> None:
        for p in self.readers:
            p.stop()
        self.readers = []

    def stop(self) -> None:
        self.stop_readers()
        for p in (self.worker, self.chroma):
            if p is not None:
                p.stop()

    def pids(self, procs: list[Proc]) -> list[int]:
        return [p.pid for p in procs if p.alive()]


def wait_http(url: str, proc: Proc, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited: {proc.log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{proc.name} did not become ready at {url} within {seconds:.0f} s")
