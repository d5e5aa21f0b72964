"use strict"
// LongPoll parity: the WebSocket suite's scenarios (scenarios.js) run with
// phoenix.js's own LongPoll transport, plus the few scenarios whose course
// differs on LongPoll. Loaded with
//   node --require ./js/longpoll_parity.js js/run.js <scenario>
// it adds its scenarios to scenarios.js's table, as presence.js does, so
// run.js, harness.js and scenarios.js are reused unchanged.
//
// Transport choice without editing the shared scenarios: harness.Client is
// replaced (before scenarios.js loads and destructures it) by a subclass
// that gives LongPoll to the clients named in ctx.lpClients ("*": all).
// Nothing in phoenix.js is patched.
//
// lp_batch runs several scenarios in one node process (one phoenix.js load,
// one process per version instead of one per scenario: the suite must stay
// light on a loaded machine). As everywhere, scenarios record; Go judges.

const harness = require("./harness")

const Base = harness.Client
class Client extends Base {
  constructor(ctx, name, opts = {}) {
    const lp = ctx.lpClients
    if (opts.longpoll === undefined && lp && (lp === "*" || lp.includes(name))) {
      opts = Object.assign({}, opts, { longpoll: true })
    }
    super(ctx, name, opts)
  }
}
harness.Client = Client

const { sleep, waitFor, join, push, bytes } = harness
const table = require("./scenarios") // loads after the swap: its Client is ours

const user = (id) => `user:${id}`
const T = 10000

// presence wraps a channel in a phoenix.js Presence and records onJoin and
// onLeave as {type, key}.
function presence(ctx, ch) {
  const p = new ctx.Phoenix.Presence(ch)
  const w = { p, callbacks: [] }
  p.onJoin((key, cur) => {
    if (!cur) w.callbacks.push({ type: "join", key })
  })
  p.onLeave((key, cur) => {
    if (cur.metas.length === 0) w.callbacks.push({ type: "leave", key })
  })
  w.keys = () => p.list((key) => key).sort()
  w.meta = (key) => {
    const found = p.list((k, { metas }) => (k === key ? metas : null)).filter(Boolean)
    return found.length ? found[0] : []
  }
  return w
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b)

// sleepRequests holds back every HTTP request whose URL contains match, as
// a sleeping browser tab makes none, until the returned wake function
// sends them. Both versions' LongPoll reach the network through the
// global fetch (1.7 through xhr.js), looked up at each request; phoenix.js
// itself is not touched.
function sleepRequests(match) {
  const real = globalThis.fetch
  const held = []
  globalThis.fetch = (url, init) =>
    String(url).includes(match)
      ? new Promise((resolve, reject) => held.push(() => real(url, init).then(resolve, reject)))
      : real(url, init)
  return () => {
    globalThis.fetch = real
    for (const send of held) send()
  }
}

const lpScenarios = {
  // steps: [{name, scenario, args, longpoll}] run one after the other; each
  // step's clients are disconnected before the next. Result: {name:
  // {result} | {error}}.
  async lp_batch(ctx, { steps }) {
    const out = {}
    for (const step of steps) {
      const fn = table[step.scenario]
      const first = ctx.clients.length
      ctx.lpClients = step.longpoll
      const t0 = Date.now()
      try {
        if (!fn) throw new Error(`unknown scenario ${step.scenario}`)
        out[step.name] = { result: JSON.parse(JSON.stringify(await fn(ctx, step.args))) }
      } catch (e) {
        out[step.name] = { error: String((e && e.stack) || e) }
      }
      out[step.name].ms = Date.now() - t0
      for (const c of ctx.clients.slice(first)) c.socket.disconnect()
    }
    return out
  },

  // kick_me from a LongPoll socket; the user also has a WebSocket. The
  // server ends the LongPoll session; the client finds out at its next poll
  // (403, as Phoenix answers a killed session: onError, close 1008, with
  // 1.7 and 1.8 alike), reconnects through connect and rejoins.
  async lp_kick(ctx, { user: id, room }) {
    const a = new Client(ctx, "a", { token: user(id), longpoll: true }).connect()
    const b = new Client(ctx, "b", { token: user(id), longpoll: false }).connect()
    const cha = a.channel(room)
    const chb = b.channel(`${room}_b`)
    const r = { join_a: await join(ctx, cha, T), join_b: await join(ctx, chb, T) }
    r.kick = await push(ctx, cha, "kick_me", {}, T)
    r.a_reopened = await waitFor(() => a.count("open") >= 2, T)
    r.b_reopened = await waitFor(() => b.count("open") >= 2 && chb.state === "joined", T)
    r.a_rejoined = await waitFor(() => cha.state === "joined", T)
    r.echo_a_after = await push(ctx, cha, "echo", { after: "kick" }, T)
    r.echo_b_after = await push(ctx, chb, "echo", { after: "kick" }, T)
    r.a_events = a.events
    r.b_events = b.events
    return r
  },

  // Binary with a LongPoll client a and a WebSocket client b on one topic.
  // LongPoll cannot carry server→client binary frames.
  async lp_binary(ctx, { users, room }) {
    const a = new Client(ctx, "a", { token: user(users[0]), longpoll: true }).connect()
    const b = new Client(ctx, "b", { token: user(users[1]), longpoll: false }).connect()
    const cha = a.channel(room, ["bin", "bin_all", "new_msg"])
    const chb = b.channel(room, ["bin", "bin_all"])
    const r = { join_a: await join(ctx, cha, T), join_b: await join(ctx, chb, T) }
    r.push_binary = await push(ctx, cha, "push_binary", {}, T)
    r.binary = await push(ctx, cha, "binary", bytes(9, 8, 7), 1500) // its reply is binary
    r.broadcast_binary = await push(ctx, cha, "broadcast_binary", {}, T)
    await waitFor(() => b.chanEvents(room, "bin_all").length > 0, T)
    r.echo_after = await push(ctx, cha, "echo", { after: "binary" }, T)
    r.new_msg = await push(ctx, cha, "new_msg", { body: "text still flows" }, T)
    r.a_got_new_msg = await waitFor(() => a.chanEvents(room, "new_msg").length > 0, T)
    r.ping = await a.ping(T)
    await sleep(200) // a stray binary frame would arrive here
    const payloads = (c, ev) => c.chanEvents(room, ev).map((e) => e.payload)
    r.a_bin = payloads(a, "bin")
    r.a_bin_all = payloads(a, "bin_all")
    r.b_bin_all = payloads(b, "bin_all")
    r.a_events = a.events
    return r
  },

  // Presence across transports: l on LongPoll, w on WebSocket, both with a
  // phoenix.js Presence. l joins, updates its status, leaves the channel,
  // joins again and disconnects: the server only learns of that when the
  // session expires (-longpoll-idle), and w must see l leave then too.
  async lp_presence(ctx, { users: [lid, wid], room }) {
    const w = new Client(ctx, "w", { token: user(wid), longpoll: false }).connect()
    const l = new Client(ctx, "l", { token: user(lid), longpoll: true }).connect()
    const chw = w.channel(room)
    const pw = presence(ctx, chw)
    const r = { join_w: await join(ctx, chw, T) }
    let chl = l.channel(room)
    const pl = presence(ctx, chl)
    r.join_l = await join(ctx, chl, T)
    const both = [lid, wid].sort()
    r.listed = await waitFor(() => same(pw.keys(), both) && same(pl.keys(), both), T)
    r.w_list = pw.keys()
    r.l_list = pl.keys()
    r.set_status = await push(ctx, chl, "set_status", { status: "away" }, T)
    const away = (p) => p.meta(lid).length === 1 && p.meta(lid)[0].status === "away"
    r.status_seen = await waitFor(() => away(pw) && away(pl), T)
    r.leave = await new Promise((resolve) =>
      chl.leave(T).receive("ok", () => resolve("ok")).receive("timeout", () => resolve("timeout")),
    )
    r.left = await waitFor(() => same(pw.keys(), [wid]), T)
    chl = l.channel(room)
    r.rejoin = await join(ctx, chl, T)
    r.back = await waitFor(() => same(pw.keys(), both), T)
    l.mark("disconnect")
    l.socket.disconnect() // LongPoll sends nothing: the session expires on the server
    const t0 = Date.now()
    r.expired = await waitFor(() => same(pw.keys(), [wid]), T)
    r.expiry_ms = Date.now() - t0
    r.w_callbacks = pw.callbacks
    return r
  },

  // A LongPoll client whose tab sleeps longer than the server's
  // -longpoll-idle: l's requests are held back until w (WebSocket, with a
  // phoenix.js Presence) sees l leave, i.e. until its session expired.
  // Then l's held poll, with its session token, goes out: as from Phoenix
  // it gets 403, so l reports the error, closes, reconnects and rejoins.
  async lp_expiry(ctx, { users: [lid, wid], room }) {
    const w = new Client(ctx, "w", { token: user(wid), longpoll: false }).connect()
    const l = new Client(ctx, "l", { token: user(lid), longpoll: true }).connect()
    const chw = w.channel(room)
    const pw = presence(ctx, chw)
    const r = { join_w: await join(ctx, chw, T) }
    const chl = l.channel(room)
    r.join_l = await join(ctx, chl, T)
    const both = [lid, wid].sort()
    r.listed = await waitFor(() => same(pw.keys(), both), T)
    l.mark("sleep")
    const wake = sleepRequests(`token=${encodeURIComponent(user(lid))}`)
    r.expired = await waitFor(() => same(pw.keys(), [wid]), T)
    l.mark("wake")
    wake()
    r.reopened = await waitFor(() => l.count("open") >= 2, T)
    r.back = await waitFor(() => chl.state === "joined" && same(pw.keys(), both), T)
    r.echo_after = await push(ctx, chl, "echo", { after: "expiry" }, T)
    r.l_events = l.events
    return r
  },

  // Join deadline (server with a short -join-deadline) on LongPoll: the idle
  // session gets the phx_connect_error join_timeout message, then its next
  // poll gets 403 (error + close 1008) and the client is open again; a
  // LongPoll client that joined stays.
  async lp_join_deadline(ctx, { user: id, room, observeMs }) {
    const idle = new Client(ctx, "idle", { token: user(`${id}_idle`), longpoll: true }).connect()
    const active = new Client(ctx, "active", { token: user(id), longpoll: true }).connect()
    const ch = active.channel(room)
    const r = { join: await join(ctx, ch, T) }
    const told = () => idle.events.some((e) => e.type === "message" && e.msg.event === "phx_connect_error")
    r.idle_told = await waitFor(told, T)
    r.idle_reopened = await waitFor(() => told() && idle.count("open") >= 2, T)
    idle.mark("stop")
    idle.socket.disconnect()
    await sleep(Math.max(500, observeMs - (Date.now() - ctx.t0)))
    r.active_echo = await push(ctx, ch, "echo", { still: "open" }, T)
    r.idle_events = idle.events
    r.active_events = active.events
    return r
  },

  // A LongPoll client against a server whose connection limit LongPoll
  // sessions have filled: every session-creating GET is answered 503 with
  // a plain-text body. Records observeMs of the client's attempts.
  async lp_full(ctx, { user: id, observeMs }) {
    const a = new Client(ctx, "a", { token: user(id), longpoll: true }).connect()
    await sleep(observeMs)
    a.mark("stop")
    a.socket.disconnect()
    // 1.7 passes its error status (500) as the close's wasClean: keep JSON
    // booleans for the Go side
    return { events: a.events.map((e) => (e.type === "close" ? Object.assign({}, e, { wasClean: e.wasClean === true }) : e)) }
  },
}

for (const name of Object.keys(lpScenarios)) {
  if (table[name]) throw new Error(`longpoll_parity.js: scenario ${name} already exists`)
  table[name] = lpScenarios[name]
}

module.exports = lpScenarios
