package phxredis

import "github.com/redis/go-redis/v9"

// The store's Lua scripts. Each runs atomically in Redis, which is what
// makes Apply one step and ExpireNode a claim. They build some key names
// themselves (a topic's hash, a node's index) from the base passed in
// ARGV[1]: every key shares the base's hash tag, so in a cluster they all
// live in the slot of the declared KEYS, as Redis requires. They need
// Redis 5 or newer (scripts replicated by effects: TIME before writes).
//
// An entry is stored in its topic's hash, field = ref, value =
//
//	"P1 <seq> <len(node)> <len(key)> <len(owner)>\n" node key owner meta
//
// where seq orders the metas of a key (first-added order) and the lengths
// are byte counts. The scripts read only seq, node and key of a value;
// a value that does not parse is never trusted (Go drops and counts it).

// luaCommon is the prelude of the scripts that write: value parsing and
// the store-wide counter that numbers entries and revisions.
//
// nextSeq seeds the counter, when it is missing (a new store, or a Redis
// that lost its data) or unreadable, from Redis's clock in microseconds,
// or from the caller's floor (one above the largest revision this client
// has seen) when that is larger; it then only grows. So a revision never
// repeats an earlier one of the same topic, even across a restart that
// lost everything, as long as fewer than a million changes a second were
// made on average since the counter was seeded, and Redis's clock did not
// step back by more than the changes made since.
const luaCommon = `
local base = ARGV[1]
local floor = tonumber(ARGV[3]) or 0
local seqk = base .. 'seq'
local function parse(v)
  local seq, nl, kl, ol, pos = string.match(v, '^P1 (%d+) (%d+) (%d+) (%d+)\n()')
  if not seq then return nil end
  nl = tonumber(nl)
  kl = tonumber(kl)
  return seq, string.sub(v, pos, pos + nl - 1), string.sub(v, pos + nl, pos + nl + kl - 1)
end
local function nextSeq()
  local cur = tonumber(redis.call('GET', seqk) or '')
  if not cur then
    local t = redis.call('TIME')
    local seed = tonumber(t[1]) * 1000000 + tonumber(t[2])
    if seed < floor then seed = floor end
    redis.call('SET', seqk, string.format('%d', seed))
  elseif cur < floor then
    redis.call('SET', seqk, string.format('%d', floor))
  end
  return string.format('%d', redis.call('INCR', seqk))
end
`

// applyScript: KEYS = topic hash, revisions hash, nodes set; ARGV = base,
// topic, floor, number of leaves, the leaves' refs, then one (ref, node,
// key, owner, meta) quintuple per join. Leaves first, then joins (upserts
// by ref: same key keeps its place, another key goes last). Returns the
// topic's revision after the call ("0" when empty).
var applyScript = redis.NewScript(luaCommon + `
local tk, revs, nodes = KEYS[1], KEYS[2], KEYS[3]
local topic = ARGV[2]
local nleaves = tonumber(ARGV[4])
local changed = false
local function unindex(node, ref)
  local ik = base .. 'n:' .. node
  if redis.call('HGET', ik, ref) == topic then
    redis.call('HDEL', ik, ref)
    if redis.call('EXISTS', ik) == 0 then redis.call('SREM', nodes, node) end
  end
end
for i = 5, 4 + nleaves do
  local ref = ARGV[i]
  local old = redis.call('HGET', tk, ref)
  if old then
    redis.call('HDEL', tk, ref)
    local _, node = parse(old)
    if node then unindex(node, ref) end
    changed = true
  end
end
local i = 5 + nleaves
while i + 4 <= #ARGV do
  local ref, node, key, owner, meta = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4]
  local seq
  local old = redis.call('HGET', tk, ref)
  if old then
    local oseq, onode, okey = parse(old)
    if oseq and okey == key then seq = oseq end
    if onode and onode ~= node then unindex(onode, ref) end
  end
  if not seq then seq = nextSeq() end
  redis.call('HSET', tk, ref,
    string.format('P1 %s %d %d %d\n', seq, #node, #key, #owner) .. node .. key .. owner .. meta)
  redis.call('HSET', base .. 'n:' .. node, ref, topic)
  redis.call('SADD', nodes, node)
  changed = true
  i = i + 5
end
if changed then
  if redis.call('EXISTS', tk) == 0 then
    redis.call('HDEL', revs, topic)
    return '0'
  end
  local r = nextSeq()
  redis.call('HSET', revs, topic, r)
  return r
end
return redis.call('HGET', revs, topic) or '0'
`)

// expireScript: KEYS = the node's index, heartbeats hash, nodes set,
// revisions hash, claim key; ARGV = base, node, floor. Removes every entry
// the index names (and that is still the node's), the index and the
// heartbeat, bumps the touched topics' revisions, and returns the removed
// entries as (topic, ref, value) triples. One atomic step: a second caller
// finds the index gone and gets nothing, so each entry goes to exactly one
// caller. Its cost is linear in the node's entries (a few microseconds
// each), during which Redis serves nobody else.
//
// The claim key is unique to the call: the result is kept there for a
// minute, so that the client's retry of a call whose reply was lost (a
// read timeout on a huge node) gets the same entries instead of nothing.
var expireScript = redis.NewScript(luaCommon + `
local ik, beats, nodes, revs, claim = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local node = ARGV[2]
if redis.call('EXISTS', claim) == 1 then return redis.call('LRANGE', claim, 0, -1) end
local refs = redis.call('HGETALL', ik)
local out, touched = {}, {}
for i = 1, #refs, 2 do
  local ref, topic = refs[i], refs[i+1]
  local tk = base .. 't:' .. topic
  local v = redis.call('HGET', tk, ref)
  if v then
    local _, n = parse(v)
    if n == nil or n == node then
      redis.call('HDEL', tk, ref)
      out[#out+1] = topic
      out[#out+1] = ref
      out[#out+1] = v
      touched[topic] = true
    end
  end
end
redis.call('DEL', ik)
redis.call('SREM', nodes, node)
redis.call('HDEL', beats, node)
for topic in pairs(touched) do
  if redis.call('EXISTS', base .. 't:' .. topic) == 0 then
    redis.call('HDEL', revs, topic)
  else
    redis.call('HSET', revs, topic, nextSeq())
  end
end
for i = 1, #out, 999 do
  redis.call('RPUSH', claim, unpack(out, i, math.min(i + 998, #out)))
end
if #out > 0 then redis.call('PEXPIRE', claim, 60000) end
return out
`)

// freshScript: KEYS = the counter; ARGV = base, unused, floor. Returns a
// new counter value: the revision of a topic whose stored revision is
// unreadable (never cached, never equal to another).
var freshScript = redis.NewScript(luaCommon + `
return nextSeq()
`)

// heartbeatScript: KEYS = heartbeats hash; ARGV = node, time in
// microseconds. Records the later of the stored and the given time;
// returns 1 when the node had a record, 0 when not (first beat, expired,
// or Redis lost its data).
var heartbeatScript = redis.NewScript(`
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 0
end
local o = tonumber(old)
if not o or o < tonumber(ARGV[2]) then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1
`)

// nodesScript: KEYS = heartbeats hash, nodes set. Returns both, read in
// one step.
var nodesScript = redis.NewScript(`
return {redis.call('HGETALL', KEYS[1]), redis.call('SMEMBERS', KEYS[2])}
`)
