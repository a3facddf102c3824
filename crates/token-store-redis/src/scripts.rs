//! The Lua scripts that make each store operation one atomic step on the
//! server (Redis runs a script without interleaving other commands).

use std::sync::LazyLock;

use redis::Script;

/// Save: refuse to replace a record this library cannot read, then write the
/// record (with or without a TTL), index it and announce it, all at once.
///
/// KEYS: record, index. ARGV: json, schema version, ttl ms (`0`: none),
/// account key, channel. Returns `ok`, `corrupt` or `version:<n>`.
pub(crate) static SAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local old = redis.call('GET', KEYS[1])
if old then
  local ok, decoded = pcall(cjson.decode, old)
  if not ok or type(decoded) ~= 'table' then return 'corrupt' end
  local v = decoded['schema_version']
  if tostring(v) ~= ARGV[2] then return 'version:' .. tostring(v) end
end
if ARGV[3] ~= '0' then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('SADD', KEYS[2], ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[4])
return 'ok'
"#,
    )
});

/// Delete: remove the record and its index entry; announce it if it existed.
///
/// KEYS: record, index. ARGV: account key, channel. Returns 1 or 0.
pub(crate) static DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local n = redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
if n > 0 then redis.call('PUBLISH', ARGV[2], ARGV[1]) end
return n
"#,
    )
});

/// List: the indexed accounts whose record still exists; entries whose
/// record expired (server-side TTL) are dropped from the index.
///
/// KEYS: index. ARGV: record key prefix. Returns the account keys.
pub(crate) static LIST: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local out = {}
for _, member in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. member) == 1 then
    table.insert(out, member)
  else
    redis.call('SREM', KEYS[1], member)
  end
end
return out
"#,
    )
});

/// Release a lease only if this owner still holds it (it may have expired
/// and been taken by another replica meanwhile).
///
/// KEYS: lease. ARGV: owner id. Returns 1 if released, 0 otherwise.
pub(crate) static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#,
    )
});

/// Take a lease: `SET lease owner NX PX ttl`; also succeeds if this owner
/// already holds it (a retried request whose first reply was lost).
///
/// KEYS: lease. ARGV: owner id, ttl ms. Returns 1 if held, 0 otherwise.
pub(crate) static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0
"#,
    )
});

/// Extend a maintenance claim only if this owner still holds it (the
/// heartbeat): compare-and-`PEXPIRE`.
///
/// KEYS: claim. ARGV: owner value, ttl ms. Returns 1 if extended, 0 otherwise.
pub(crate) static EXTEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"#,
    )
});
