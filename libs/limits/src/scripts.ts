/**
 * Lua scripts: each operation is one atomic script, so replicas racing on the
 * same key never interleave between a read and a write.
 */

/**
 * Lua: the bucket in `key` refilled up to now, as locals `tokens` and
 * `updated` (needs `capacity`, `rate` and `now` in ms defined before it). One
 * text for every script that reads a bucket, so they all refill alike.
 */
const refilled = (key: string) => `local saved = redis.call('HMGET', ${key}, 'tokens', 'ts')
local tokens = capacity
local updated = now
if saved[1] and saved[2] then
  tokens = tonumber(saved[1])
  updated = tonumber(saved[2])
  if now > updated then
    tokens = math.min(capacity, tokens + (now - updated) * rate / 1000)
    updated = now
  end
end`;

/** Lua: the Redis server's clock as `now`, in fractional ms (the buckets' clock). */
const clock = `local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000`;

/**
 * Lua: writes `tokens`/`updated` back to the bucket in `key`, expiring when it
 * would be full again (needs `capacity` and `rate`); a full bucket is deleted,
 * since an absent bucket reads as full.
 */
const stored = (key: string) => `local full = math.ceil((capacity - tokens) * 1000 / rate)
if full > 0 then
  redis.call('HSET', ${key}, 'tokens', string.format('%.17g', tokens), 'ts', string.format('%.17g', updated))
  redis.call('PEXPIRE', ${key}, full)
else
  redis.call('DEL', ${key})
end`;

/**
 * Lua: takes `cost` tokens from the bucket in `key` when it has them, setting
 * locals `allowed` (0|1) and `retry` (ms until it would have them), and stores
 * the bucket (needs `capacity`, `rate` and `now`).
 */
const taken = (key: string, cost: string) => `${refilled(key)}
local allowed = 0
local retry = 0
if tokens >= ${cost} then
  tokens = tokens - ${cost}
  allowed = 1
else
  retry = math.ceil((${cost} - tokens) * 1000 / rate)
end
${stored(key)}`;

/**
 * Lua: gives `amount` tokens back to the bucket in `key` (refilled to now
 * first, never above capacity; needs `capacity` and `rate`). Returns 0 from
 * the script when the bucket is absent (it is full), else continues with it stored.
 */
const refunded = (key: string, amount: string) => `local saved = redis.call('HMGET', ${key}, 'tokens', 'ts')
if not (saved[1] and saved[2]) then
  return 0
end
${clock}
local tokens = tonumber(saved[1])
local updated = tonumber(saved[2])
if now > updated then
  tokens = math.min(capacity, tokens + (now - updated) * rate / 1000)
  updated = now
end
tokens = math.min(capacity, tokens + ${amount})
${stored(key)}`;

/**
 * Lua: drops the expired members of the slots set in `key`, returns `refused`
 * from the script when `limit` are left, else adds `member` until `leaseMs`
 * from now (needs `now`; the key expires with its newest lease).
 */
const slotHeld = (
  key: string,
  limit: string,
  member: string,
  leaseMs: string,
  refused: string,
) => `local nowMs = math.floor(now)
redis.call('ZREMRANGEBYSCORE', ${key}, '-inf', nowMs)
if redis.call('ZCARD', ${key}) >= tonumber(${limit}) then
  return ${refused}
end
redis.call('ZADD', ${key}, nowMs + tonumber(${leaseMs}), ${member})
redis.call('PEXPIRE', ${key}, ${leaseMs})`;

/**
 * KEYS[1] bucket hash {tokens, ts}; ARGV capacity, refillPerSecond, cost.
 * Returns {allowed 0|1, remaining (floored), retryAfterMs}. A transcription of
 * takeTokens() in bucket.ts. The clock is the Redis server's TIME, so replicas
 * with skewed clocks agree.
 */
export const TAKE = `
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
${clock}
${taken("KEYS[1]", "cost")}
return {allowed, math.floor(tokens), retry}
`;

/** KEYS[1] counter; ARGV by, ttlMs. Returns the new value. */
export const INCR = `
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return value
`;

/**
 * KEYS[1] lease, KEYS[2] fence, KEYS[3] handover; ARGV owner, ttlMs. Returns
 * {fencing token, handover (0 when none)}, or {0, 0} when held by someone else.
 */
export const ACQUIRE = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {redis.call('INCR', KEYS[2]), tonumber(redis.call('GET', KEYS[3]) or '0')}
end
return {0, 0}
`;

/**
 * ACQUIRE behind a check: KEYS[1] lease, KEYS[2] fence, KEYS[3] handover, then
 * ARGV[3] counter keys, then block keys; ARGV owner, ttlMs, number of
 * counters. Reads every counter and block (absent: 0) and, unless a block is
 * above 0, does what ACQUIRE does. Returns {fencing token (0: not taken),
 * handover, the counters' and blocks' values in order}.
 */
export const ACQUIRE_UNLESS_BLOCKED = `
local counters = tonumber(ARGV[3])
local out = {0, 0}
local blocked = false
for i = 4, #KEYS do
  local value = tonumber(redis.call('GET', KEYS[i]) or '0')
  out[#out + 1] = value
  if i - 3 > counters and value > 0 then blocked = true end
end
if not blocked and redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  out[1] = redis.call('INCR', KEYS[2])
  out[2] = tonumber(redis.call('GET', KEYS[3]) or '0')
end
return out
`;

/** KEYS[1] lease; ARGV owner, ttlMs. Returns 1 when still ours and extended, else 0. */
export const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`;

/**
 * KEYS[1] lease, KEYS[2] handover; ARGV owner, handover (0: none), handoverTtlMs.
 * Deletes the lease only when still ours; keeps the larger handover either way.
 */
export const RELEASE = `
local handover = tonumber(ARGV[2])
if handover > 0 and handover > tonumber(redis.call('GET', KEYS[2]) or '0') then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;

/**
 * KEYS[1] slots sorted set (member → lease expiry in ms on the Redis clock);
 * ARGV limit, member, leaseMs. Drops expired members (slots of processes that
 * died without releasing them), then adds `member` when fewer than `limit` are
 * left. Returns 1 when added, else 0. The key itself expires with its newest
 * lease, so a set whose holders all died disappears.
 */
export const HOLD_SLOT = `
${clock}
${slotHeld("KEYS[1]", "ARGV[1]", "ARGV[2]", "ARGV[3]", "0")}
return 1
`;

/**
 * KEYS[1] slots sorted set; ARGV leaseMs, member... The heartbeat: renews the
 * lease of every listed member, adding back any that expired while this
 * process could not reach Redis (they are still held). Returns nothing useful.
 */
export const REFRESH_SLOTS = `
local time = redis.call('TIME')
local expiry = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000) + tonumber(ARGV[1])
local args = {}
for i = 2, #ARGV do
  args[#args + 1] = expiry
  args[#args + 1] = ARGV[i]
end
redis.call('ZADD', KEYS[1], unpack(args))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return #ARGV - 1
`;

/**
 * KEYS[1] slots sorted set, KEYS[2] bucket hash; ARGV limit, member, leaseMs,
 * capacity, refillPerSecond. HOLD_SLOT, then (only when the slot was added)
 * TAKE of one token, in one round trip: SMTP-in's connection slot and the
 * token of the session's first message. Returns {added 0|1, allowed 0|1,
 * remaining, retryAfterMs}. Built from the same fragments as HOLD_SLOT and TAKE.
 */
export const HOLD_SLOT_AND_TAKE = `
${clock}
${slotHeld("KEYS[1]", "ARGV[1]", "ARGV[2]", "ARGV[3]", "{0, 0, 0, 0}")}
local capacity = tonumber(ARGV[4])
local rate = tonumber(ARGV[5])
${taken("KEYS[2]", "1")}
return {1, allowed, math.floor(tokens), retry}
`;

/**
 * KEYS[1] slots sorted set, KEYS[2] bucket hash; ARGV member, refund (0|1),
 * capacity, refillPerSecond. Releases the slot (ZREM) and, when asked, gives
 * one token back to the bucket (refilled to now first, never above capacity):
 * the token HOLD_SLOT_AND_TAKE took for a first message that never came.
 */
export const RELEASE_SLOT_AND_REFUND = `
redis.call('ZREM', KEYS[1], ARGV[1])
if ARGV[2] ~= '1' then
  return 0
end
local capacity = tonumber(ARGV[3])
local rate = tonumber(ARGV[4])
${refunded("KEYS[2]", "1")}
return 1
`;

/**
 * KEYS[1] bucket hash; ARGV tokens, capacity, refillPerSecond. Gives `tokens`
 * back to a bucket (refilled to now first, never above capacity): tokens a
 * process took ahead (a local budget) and did not spend. Nothing when the
 * bucket is absent (full). Returns 1 when something was given back.
 */
export const REFUND = `
local capacity = tonumber(ARGV[2])
local rate = tonumber(ARGV[3])
${refunded("KEYS[1]", "tonumber(ARGV[1])")}
return 1
`;
