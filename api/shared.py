"""What the processes of a shared deployment share through Redis (CITEDESK_REDIS_URL): the names of
the job queue and of the change-notice channel, the notices themselves, and the rate limits.

Every name carries the deployment's namespace, derived from its catalog database, so two
deployments (or two test runs) on one Redis never see each other's jobs, notices or counters.
"""

from __future__ import annotations

import logging
import threading
import time

from kb.errors import ServiceUnavailableError
from kb.settings import Settings
from kb.types import stable_hash

log = logging.getLogger("citedesk.shared")

SOCKET_TIMEOUT = 5.0


def namespace(settings: Settings) -> str:
    return "citedesk:" + stable_hash(settings.database_url or "", length=10)


def queue_name(settings: Settings) -> str:
    return namespace(settings) + ":writes"


def notice_channel(settings: Settings) -> str:
    return namespace(settings) + ":snapshot"


def redis_client(settings: Settings):
    """A client for the deployment's Redis (connections are made on first use)."""
    from redis import Redis

    return Redis.from_url(settings.redis_url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT,
                          health_check_interval=30)


def unreachable(exc: Exception, settings: Settings) -> ServiceUnavailableError:
    from redis.connection import parse_url

    where = parse_url(settings.redis_url or "")
    host = where.get("host") or where.get("path") or "?"
    return ServiceUnavailableError(
        f"Redis ({host}:{where.get('port', 6379)}) is unreachable: {exc}; the job queue needs it, try again shortly"
    )


# -- change notices ---------------------------------------------------------------------------


def publisher(settings: Settings, client=None):
    """A catalog on_commit hook: publishes each new snapshot id. A notice that cannot be sent is
    only logged: readers also poll the catalog (kb.index.follow)."""
    client = client or redis_client(settings)
    channel = notice_channel(settings)

    def publish(snapshot_id: str) -> None:
        try:
            client.publish(channel, snapshot_id)
        except Exception as exc:  # noqa: BLE001 - readers will find the change by polling
            log.warning("could not publish the change notice for snapshot %s: %s", snapshot_id, exc)

    return publish


class NoticeWaiter:
    """`waiter(timeout)` returns when a change notice arrives, or after `timeout` seconds."""

    def __init__(self, settings: Settings, client=None) -> None:
        self.client = client or redis_client(settings)
        self.channel = notice_channel(settings)
        self._pubsub = None

    def __call__(self, timeout: float) -> bool:
        started = time.monotonic()
        try:
            if self._pubsub is None:
                self._pubsub = self.client.pubsub(ignore_subscribe_messages=True)
                self._pubsub.subscribe(self.channel)
            got = self._pubsub.get_message(timeout=timeout) is not None
            while got and self._pubsub.get_message(timeout=0) is not None:  # several commits: one refresh
                pass
        except Exception:
            self._reset()
            raise
        if not got:  # get_message may return early (e.g. while subscribing): wait out the rest
            time.sleep(max(0.0, timeout - (time.monotonic() - started)))
        return got

    def _reset(self) -> None:
        try:
            if self._pubsub is not None:
                self._pubsub.close()
        except Exception:  # noqa: BLE001 - the connection is already gone
            pass
        self._pubsub = None


# -- rate limits ------------------------------------------------------------------------------


def limits_storage(settings: Settings):
    """The `limits` storage of a shared deployment's rate limits and sign-in counts: its Redis
    (under the deployment's namespace), unless CITEDESK_RATE_LIMIT_STORAGE names another shared one."""
    from api.ratelimit import make_storage

    if settings.rate_limit_storage not in ("", "memory://"):
        return make_storage(settings.rate_limit_storage)
    from limits.storage import RedisStorage

    return RedisStorage(settings.redis_url, key_prefix=namespace(settings) + ":limits",
                        socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT)


class SharedRateLimiter:
    """Requests per caller counted on the shared storage, so the limit holds across every reader.
    While Redis cannot be reached each process counts on its own (in memory) and says so in the
    log: agents keep getting answers, and no caller goes unlimited. (Sign-ins are not let through
    that way: while Redis is down they answer 503.)"""

    def __init__(self, storage, per_minute: int) -> None:
        from limits.storage import MemoryStorage

        from api.ratelimit import RateLimiter

        self.per_minute = per_minute
        self._shared = RateLimiter(storage, per_minute)
        self._local = RateLimiter(MemoryStorage(), per_minute)
        self._warned = threading.Event()

    def hit(self, who: str) -> float | None:
        """Record a request; None when allowed, else the seconds to wait."""
        try:
            wait = self._shared.hit(who)
            self._warned.clear()
            return wait
        except Exception as exc:  # noqa: BLE001 - Redis down: count in this process meanwhile
            if not self._warned.is_set():
                log.warning("rate limits counted per process while Redis is unreachable: %s", exc)
                self._warned.set()
            return self._local.hit(who)
