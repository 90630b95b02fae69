"""The control store in Redis (``REDIS_URL``), for deployments that share one Redis.

Each counter is a hash (``spent``, ``reserved`` and one ``lease:<request id>`` field
per reservation) beside a sorted set of its leases by expiry. A reservation is one Lua
script over every counter it claims, so Redis runs it atomically: it sweeps expired
leases, checks each counter, and raises them all or none. Settling is another script.
The per-minute rate limits use the ``limits`` library's own Redis storage on the same
connection pool. Every key starts with the configured prefix.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import redis
from limits.storage import RedisStorage

from ..errors import ControlUnavailableError
from .store import Claim, CounterState, Reservation, Settlement

# KEYS: per claim its counter hash and its lease set. ARGV: request id, now, lease
# expiry, then per claim: amount, ceiling, backfill (1/0), counter expiry (0: none).
# Returns {0} when held, {1, index, spent, reserved} when refused, {2, index} when a
# backfill counter is missing (indexes from 1).
_RESERVE = """
local request_id = ARGV[1]
local now = tonumber(ARGV[2])
local claims = #KEYS / 2
for i = 1, claims do
  local counter, leases = KEYS[2 * i - 1], KEYS[2 * i]
  local base = 3 + (i - 1) * 4
  local expired = redis.call('ZRANGEBYSCORE', leases, '-inf', now)
  for _, holder in ipairs(expired) do
    local held = redis.call('HGET', counter, 'lease:' .. holder)
    if held and held ~= '0' then
      redis.call('HINCRBY', counter, 'reserved', '-' .. held)
    end
    redis.call('HDEL', counter, 'lease:' .. holder)
  end
  if #expired > 0 then
    redis.call('ZREMRANGEBYSCORE', leases, '-inf', now)
  end
  local exists = redis.call('EXISTS', counter) == 1
  if not exists and ARGV[base + 3] == '1' then
    return {2, i}
  end
  local spent = tonumber(redis.call('HGET', counter, 'spent') or '0')
  local reserved = tonumber(redis.call('HGET', counter, 'reserved') or '0')
  if spent + reserved + tonumber(ARGV[base + 1]) > tonumber(ARGV[base + 2]) then
    return {1, i, spent, reserved}
  end
end
for i = 1, claims do
  local counter, leases = KEYS[2 * i - 1], KEYS[2 * i]
  local base = 3 + (i - 1) * 4
  redis.call('HINCRBY', counter, 'reserved', ARGV[base + 1])
  redis.call('HSETNX', counter, 'spent', '0')
  redis.call('HSET', counter, 'lease:' .. request_id, ARGV[base + 1])
  redis.call('ZADD', leases, ARGV[3], request_id)
  if ARGV[base + 4] ~= '0' then
    redis.call('EXPIREAT', counter, ARGV[base + 4])
    redis.call('EXPIREAT', leases, ARGV[base + 4])
  end
end
return {0}
"""

# KEYS: per settlement its counter hash and lease set. ARGV: request id, then per
# settlement the spend to add. Returns spent, reserved per counter.
_RELEASE = """
local request_id = ARGV[1]
local states = {}
for i = 1, #KEYS / 2 do
  local counter, leases = KEYS[2 * i - 1], KEYS[2 * i]
  local held = redis.call('HGET', counter, 'lease:' .. request_id)
  if held then
    if held ~= '0' then
      redis.call('HINCRBY', counter, 'reserved', '-' .. held)
    end
    redis.call('HDEL', counter, 'lease:' .. request_id)
    redis.call('ZREM', leases, request_id)
  end
  local spent = redis.call('HINCRBY', counter, 'spent', ARGV[i + 1])
  local reserved = tonumber(redis.call('HGET', counter, 'reserved') or '0')
  if reserved < 0 then
    redis.call('HSET', counter, 'reserved', '0')
    reserved = 0
  end
  states[#states + 1] = spent
  states[#states + 1] = reserved
end
return states
"""

# KEYS: the counter hash. ARGV: spent, counter expiry (0: none). Creates the counter
# and its expiry together, so no counter is left without one.
_OPEN = """
if redis.call('HSETNX', KEYS[1], 'spent', ARGV[1]) == 1 and ARGV[2] ~= '0' then
  redis.call('EXPIREAT', KEYS[1], ARGV[2])
end
return 0
"""

_TIMEOUT_S = 2.0


class RedisControlStore:
    def __init__(self, url: str, prefix: str) -> None:
        self._prefix = prefix
        self._pool = redis.ConnectionPool.from_url(
            url, socket_timeout=_TIMEOUT_S, socket_connect_timeout=_TIMEOUT_S
        )
        self._redis = redis.Redis(connection_pool=self._pool)
        self._reserve = self._redis.register_script(_RESERVE)
        self._release = self._redis.register_script(_RELEASE)
        self._open = self._redis.register_script(_OPEN)
        self.limiter_storage = RedisStorage(
            url,
            connection_pool=self._pool,
            key_prefix=f"{prefix}:ratelimit",
            wrap_exceptions=True,
        )

    def close(self) -> None:
        self._pool.disconnect()

    def reserve(
        self, request_id: str, claims: Sequence[Claim], lease_until: float, now: float
    ) -> Reservation:
        keys: list[str] = []
        args: list[str | int | float] = [request_id, now, lease_until]
        for claim in claims:
            keys.extend(self._keys(claim.counter))
            args.extend(
                [
                    claim.amount,
                    claim.ceiling,
                    int(claim.backfill),
                    int(claim.expires_at or 0),
                ]
            )
        answer = self._run(self._reserve, keys, args)
        if answer[0] == 1:
            state = CounterState(int(answer[2]), int(answer[3]))
            return Reservation(refused=int(answer[1]) - 1, state=state)
        if answer[0] == 2:
            return Reservation(missing=int(answer[1]) - 1)

        return Reservation()

    def release(
        self, request_id: str, settlements: Sequence[Settlement]
    ) -> list[CounterState]:
        keys: list[str] = []
        for settlement in settlements:
            keys.extend(self._keys(settlement.counter))
        args = [request_id, *(settlement.spent for settlement in settlements)]
        answer = self._run(self._release, keys, args)
        pairs = zip(answer[::2], answer[1::2], strict=True)
        return [CounterState(int(spent), int(reserved)) for spent, reserved in pairs]

    def open_counter(self, counter: str, spent: int, expires_at: float | None) -> None:
        key = self._keys(counter)[0]
        self._run(self._open, [key], [spent, int(expires_at or 0)])

    def read_counters(self, counters: Sequence[str]) -> list[CounterState | None]:
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                for counter in counters:
                    pipe.hmget(self._keys(counter)[0], "spent", "reserved")
                rows = pipe.execute()
        except redis.RedisError as error:
            raise _unavailable(error) from error

        return [
            None if spent is None else CounterState(int(spent), int(reserved or 0))
            for spent, reserved in rows
        ]

    def claim_once(self, name: str, expires_at: float | None) -> bool:
        key = f"{self._prefix}:claim:{name}"
        expiry = int(expires_at) if expires_at else None
        try:
            claimed = self._redis.set(key, int(time.time()), nx=True, exat=expiry)
        except redis.RedisError as error:
            raise _unavailable(error) from error

        return bool(claimed)

    def _keys(self, counter: str) -> list[str]:
        return [f"{self._prefix}:counter:{counter}", f"{self._prefix}:leases:{counter}"]

    def _run(self, script: object, keys: list[str], args: list) -> list:
        try:
            return script(keys=keys, args=args)  # type: ignore[operator]
        except redis.RedisError as error:
            raise _unavailable(error) from error


def _unavailable(error: Exception) -> ControlUnavailableError:
    name = type(error).__name__
    return ControlUnavailableError(
        f"the budget and rate-limit store (Redis) is unavailable ({name})"
    )
