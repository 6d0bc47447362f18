"""Circuit breakers and rate limits shared by every process: Redis when REDIS_URL is set, the database otherwise.

Web, worker and beat each build a fresh client per call, so state kept in a client (or in a process) protects
nothing. Each operation here is one atomic step on the shared store: a Lua script in Redis; in the database a
conditional UPDATE (the half-open trial: the row count says who won) or a row locked for the read-modify-write
(SQLite's immediate transactions lock the whole file, PostgreSQL locks the row). No kept library fits both
stores: pybreaker's Redis storage reads and writes its state in separate steps (every caller passes a
half-open breaker) and has no database storage; `limits` has no Django database storage.
"""

from datetime import UTC, datetime, timedelta
from functools import cache

import redis
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q

from sources.clients.http import CircuitBreaker, SharedState, bucket_decision
from sources.models import CircuitState, RateBucket

# Idle state expires: a minute refills any bucket, and a circuit nobody calls for a day is forgotten.
REDIS_BUCKET_TTL_S = 120
REDIS_BREAKER_TTL_S = 86400

ACQUIRE = """
local opened = redis.call('HGET', KEYS[1], 'opened_at')
if not opened then return 'closed' end
local now = tonumber(ARGV[1])
if now - tonumber(opened) < tonumber(ARGV[2]) then return 'open' end
local trial = redis.call('HGET', KEYS[1], 'trial_until')
if trial and tonumber(trial) > now then return 'open' end
redis.call('HSET', KEYS[1], 'trial_until', tostring(now + tonumber(ARGV[3])))
return 'trial'
"""
FAILURE = """
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if failures >= tonumber(ARGV[2]) or redis.call('HEXISTS', KEYS[1], 'opened_at') == 1 then
  redis.call('HSET', KEYS[1], 'opened_at', ARGV[1])
  redis.call('HDEL', KEYS[1], 'trial_until')
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
"""
TAKE = """
local now, capacity, per_second, max_wait = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens') or capacity)
local updated = tonumber(redis.call('HGET', KEYS[1], 'updated') or now)
tokens = math.min(capacity, tokens + math.max(0, now - updated) * per_second)
local wait = 0
if tokens < 1 then wait = (1 - tokens) / per_second end
if wait <= max_wait then tokens = tokens - 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(math.max(now, updated)))
redis.call('EXPIRE', KEYS[1], ARGV[5])
return tostring(wait)
"""


class RedisState:
    def __init__(self, url: str, *, prefix: str):
        self.client = redis.Redis.from_url(url)
        self.prefix = prefix
        self.acquire = self.client.register_script(ACQUIRE)
        self.failure = self.client.register_script(FAILURE)
        self.take = self.client.register_script(TAKE)

    def _key(self, kind: str, key: str) -> str:
        return f"{self.prefix}:{kind}:{key}"

    def breaker_acquire(self, key: str, *, now: float, cooldown_s: float, lease_s: float) -> str:
        return self.acquire(keys=[self._key("breaker", key)], args=[repr(now), cooldown_s, lease_s]).decode()

    def breaker_peek(self, key: str) -> tuple[int, float | None, float | None]:
        failures, opened_at, trial_until = self.client.hmget(
            self._key("breaker", key), "failures", "opened_at", "trial_until"
        )
        return int(failures or 0), _float(opened_at), _float(trial_until)

    def breaker_failure(self, key: str, *, now: float, threshold: int) -> None:
        self.failure(keys=[self._key("breaker", key)], args=[repr(now), threshold, REDIS_BREAKER_TTL_S])

    def breaker_success(self, key: str) -> None:
        self.client.delete(self._key("breaker", key))

    def bucket_take(self, key: str, *, now: float, capacity: float, per_second: float, max_wait_s: float) -> float:
        args = [repr(now), capacity, repr(per_second), _finite(max_wait_s), REDIS_BUCKET_TTL_S]
        return float(self.take(keys=[self._key("rate", key)], args=args))


class DatabaseState:
    def breaker_acquire(self, key: str, *, now: float, cooldown_s: float, lease_s: float) -> str:
        # Read first: almost every call finds the circuit closed, and a write per call would serialise every
        # caller on SQLite's file lock. Only a cooled-down open circuit with no trial running is written to.
        moment = _time(now)
        row = CircuitState.objects.filter(key=key).values_list("opened_at", "trial_until").first()
        if row is None or row[0] is None:
            return CircuitBreaker.CLOSED
        opened_at, trial_until = row
        if opened_at > moment - timedelta(seconds=cooldown_s) or (trial_until is not None and trial_until > moment):
            return CircuitBreaker.OPEN
        # The healthchecks way: claim the trial with a conditional UPDATE; the row count says who won.
        claimed = (
            CircuitState.objects.filter(key=key, opened_at__lte=moment - timedelta(seconds=cooldown_s))
            .filter(Q(trial_until__isnull=True) | Q(trial_until__lte=moment))
            .update(trial_until=moment + timedelta(seconds=lease_s))
        )
        if claimed:
            return CircuitBreaker.TRIAL
        is_open = CircuitState.objects.filter(key=key, opened_at__isnull=False).exists()
        return CircuitBreaker.OPEN if is_open else CircuitBreaker.CLOSED

    def breaker_peek(self, key: str) -> tuple[int, float | None, float | None]:
        row = CircuitState.objects.filter(key=key).values_list("failures", "opened_at", "trial_until").first()
        if row is None:
            return 0, None, None
        return row[0], _epoch(row[1]), _epoch(row[2])

    def breaker_failure(self, key: str, *, now: float, threshold: int) -> None:
        with transaction.atomic():
            CircuitState.objects.bulk_create([CircuitState(key=key)], ignore_conflicts=True)
            CircuitState.objects.filter(key=key).update(failures=F("failures") + 1)
            CircuitState.objects.filter(key=key).filter(Q(failures__gte=threshold) | Q(opened_at__isnull=False)).update(
                opened_at=_time(now), trial_until=None
            )

    def breaker_success(self, key: str) -> None:
        # Read first: most calls succeed on a closed circuit, and a write per call would serialise them on SQLite.
        dirty = Q(failures__gt=0) | Q(opened_at__isnull=False)
        if CircuitState.objects.filter(dirty, key=key).exists():
            CircuitState.objects.filter(key=key).update(failures=0, opened_at=None, trial_until=None)

    def bucket_take(self, key: str, *, now: float, capacity: float, per_second: float, max_wait_s: float) -> float:
        with transaction.atomic():
            RateBucket.objects.bulk_create(
                [RateBucket(key=key, tokens=capacity, updated_at=_time(now))], ignore_conflicts=True
            )
            bucket = RateBucket.objects.select_for_update().get(key=key)
            tokens, wait_s = bucket_decision(
                bucket.tokens, bucket.updated_at.timestamp(), now=now, capacity=capacity, per_second=per_second
            )
            if wait_s <= max_wait_s:
                tokens -= 1
            bucket.tokens, bucket.updated_at = tokens, max(bucket.updated_at, _time(now))
            bucket.save(update_fields=["tokens", "updated_at"])
        return wait_s


def shared_state() -> SharedState:
    """The store every process shares: Redis when configured, the database otherwise."""
    if settings.REDIS_URL:
        return _redis_state(settings.REDIS_URL, settings.CACHES["default"].get("KEY_PREFIX") or "daznode")
    return DatabaseState()


@cache
def _redis_state(url: str, prefix: str) -> RedisState:
    # One connection pool per process; redis-py opens a new connection in a forked child by itself.
    return RedisState(url, prefix=prefix)


def _time(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, tz=UTC)


def _epoch(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def _float(raw: bytes | None) -> float | None:
    return None if raw is None else float(raw)


def _finite(seconds: float) -> float:
    return min(seconds, 1e12)  # Lua's tonumber does not read "inf"
