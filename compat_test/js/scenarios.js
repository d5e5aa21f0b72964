"use strict"
// Scenarios: each is an async function (ctx, args) returning a JSON-safe
// object. args come from the Go test (PHX_ARGS); user ids and topics are
// chosen there so that concurrent scenarios on one server never share a user
// (kick_me disconnects every socket of a user) or a topic (broadcasts).
//
// Scenarios record and return; they do not judge. Missing observations show
// up as false/"timeout" values and the Go test reports them.

const { Client, sleep, waitFor, join, push, bytes } = require("./harness")

const user = (id) => `user:${id}`

// T bounds every wait for something that should happen (a reply, an event).
// It only matters when that thing never comes, so it is generous: a loaded
// CI machine must not turn a slow success into a failure.
const T = 10000

const scenarios = {
  // Accepted connect, then socket.ping (a heartbeat on topic "phoenix").
  async connect_ok(ctx, { user: id }) {
    const c = new Client(ctx, "c", { token: user(id) }).connect()
    const opened = await waitFor(() => c.count("open") > 0, T)
    const ping = await c.ping(T)
    return { opened, ping, events: c.events }
  },

  // A rejected connect. token may be absent (no token param at all).
  // cooperative: the app disconnects in onClose on 44xx (except 4429).
  // A join of args.topic is buffered before connecting, as in a real app.
  // After the first close the client is observed for observeMs, then stopped.
  // longpoll: use phoenix.js's LongPoll transport instead of WebSocket.
  async rejected(ctx, { token, cooperative, observeMs, topic, longpoll }) {
    const c = new Client(ctx, "r", { token, cooperative, longpoll })
    const ch = c.channel(topic)
    const joined = join(ctx, ch, 10000)
    c.connect()
    const closed = await waitFor(() => c.count("close") > 0, T)
    await sleep(observeMs || 0)
    c.mark("stop")
    c.socket.disconnect()
    const joinReply = await Promise.race([joined, sleep(0).then(() => null)])
    return { closed, events: c.events, join_reply: joinReply }
  },

  // The LongPoll transport: open, join, echo, broadcast, heartbeat.
  async lp_accepted(ctx, { user: id, room }) {
    const c = new Client(ctx, "lp", { token: user(id), longpoll: true }).connect()
    const ch = c.channel(room, ["new_msg"])
    const r = { opened: await waitFor(() => c.count("open") > 0, T) }
    r.join = await join(ctx, ch, T)
    r.echo = await push(ctx, ch, "echo", { via: "longpoll", u: "ü ✓" }, T)
    r.new_msg = await push(ctx, ch, "new_msg", { body: "over longpoll" }, T)
    await waitFor(() => c.chanEvents(room, "new_msg").length > 0, T)
    r.broadcasts = c.chanEvents(room, "new_msg").map((e) => e.payload)
    r.ping = await c.ping(T)
    r.events = c.events
    return r
  },

  // Channel joins: ok, refused (private, unmatched), bench channel.
  async joins(ctx, { user: id, bench }) {
    const c = new Client(ctx, "c", { token: user(id) }).connect()
    const admin = new Client(ctx, "admin", { token: user("admin") }).connect()
    const r = {}
    r.lobby = await join(ctx, c.channel("room:lobby"), T)
    const priv = c.channel("room:private")
    r.private_user = await join(ctx, priv, T)
    priv.leave() // stop phoenix.js from rejoining a refused channel
    const other = c.channel("other:topic")
    r.other_topic = await join(ctx, other, T)
    other.leave()
    const benchCh = c.channel(bench, ["new_msg"])
    r.bench = await join(ctx, benchCh, T)
    r.bench_echo = await push(ctx, benchCh, "echo", { x: [1, "two", null], y: { z: true } }, T)
    r.bench_new_msg = await push(ctx, benchCh, "new_msg", { body: "hi bench" }, T)
    await waitFor(() => c.chanEvents(bench, "new_msg").length > 0, T)
    r.bench_broadcasts = c.chanEvents(bench, "new_msg").map((e) => e.payload)
    r.private_admin = await join(ctx, admin.channel("room:private"), T)
    return r
  },

  // echo of every payload in args.payloads, in order.
  async echo(ctx, { user: id, room, payloads }) {
    const c = new Client(ctx, "c", { token: user(id) }).connect()
    const ch = c.channel(room)
    const r = { join: await join(ctx, ch, T), replies: [] }
    for (const p of payloads) r.replies.push(await push(ctx, ch, "echo", p, T))
    return r
  },

  // reply_error, noreply (short push timeout), set_status, then echo.
  async replies(ctx, { user: id, room }) {
    const c = new Client(ctx, "c", { token: user(id) }).connect()
    const ch = c.channel(room)
    const r = { join: await join(ctx, ch, T) }
    r.reply_error = await push(ctx, ch, "reply_error", {}, T)
    r.noreply = await push(ctx, ch, "noreply", {}, 500)
    r.set_status = await push(ctx, ch, "set_status", { status: "away" }, T)
    r.echo_after = await push(ctx, ch, "echo", { after: "noreply" }, T)
    return r
  },

  // new_msg between two clients on one topic.
  async new_msg(ctx, { users, room }) {
    const a = new Client(ctx, "a", { token: user(users[0]) }).connect()
    const b = new Client(ctx, "b", { token: user(users[1]) }).connect()
    const cha = a.channel(room, ["new_msg"])
    const chb = b.channel(room, ["new_msg"])
    const r = { join_a: await join(ctx, cha, T), join_b: await join(ctx, chb, T) }
    r.push_a = await push(ctx, cha, "new_msg", { body: "hello from a" }, T)
    r.push_b = await push(ctx, chb, "new_msg", { body: "héllo from b ✓" }, T)
    const got = (c) => c.chanEvents(room, "new_msg").map((e) => e.payload)
    await waitFor(() => got(a).length >= 2 && got(b).length >= 2, T)
    await sleep(100) // let duplicates, if any, arrive
    r.a_received = got(a)
    r.b_received = got(b)
    return r
  },

  // crash on one channel: that channel errors and rejoins by itself; the
  // other channel on the same socket keeps working.
  async crash(ctx, { user: id, room }) {
    const c = new Client(ctx, "c", { token: user(id) }).connect()
    const topicA = `${room}_a`
    const topicB = `${room}_b`
    const a = c.channel(topicA)
    const b = c.channel(topicB)
    const r = { join_a: await join(ctx, a, T), join_b: await join(ctx, b, T) }
    const crashed = push(ctx, a, "crash", {}, 1500)
    const errored = () => c.events.some((e) => e.type === "chan_error" && e.topic === topicA)
    r.a_errored = await waitFor(errored, T)
    r.b_echo_after_crash = await push(ctx, b, "echo", { still: "alive" }, T)
    r.a_rejoined = await waitFor(() => errored() && a.state === "joined", T)
    r.a_echo_after_rejoin = await push(ctx, a, "echo", { back: true }, T)
    r.crash = await crashed
    r.socket_closes = c.count("close")
    r.events = c.events
    return r
  },

  // leave_me: the server stops the channel (phx_close).
  async leave_me(ctx, { user: id, room }) {
    const c = new Client(ctx, "c", { token: user(id) }).connect()
    const ch = c.channel(room)
    const r = { join: await join(ctx, ch, T) }
    const left = push(ctx, ch, "leave_me", {}, 1000)
    r.closed = await waitFor(() => c.events.some((e) => e.type === "chan_close"), T)
    r.state = ch.state
    r.leave_me = await left
    r.ping_after = await c.ping(T)
    r.events = c.events
    return r
  },

  // kick_me: every socket of the user is closed by the server; phoenix.js
  // reconnects and rejoins by itself.
  async kick(ctx, { user: id, room }) {
    const a = new Client(ctx, "a", { token: user(id) }).connect()
    const b = new Client(ctx, "b", { token: user(id) }).connect() // same user, second socket
    const cha = a.channel(room)
    const chb = b.channel(`${room}_b`)
    const r = { join_a: await join(ctx, cha, T), join_b: await join(ctx, chb, T) }
    r.kick = await push(ctx, cha, "kick_me", {}, T)
    r.closed = await waitFor(() => a.count("close") >= 1 && b.count("close") >= 1, T)
    r.rejoined = await waitFor(
      () => a.count("open") >= 2 && b.count("open") >= 2 && cha.state === "joined" && chb.state === "joined",
      T,
    )
    r.echo_a_after = await push(ctx, cha, "echo", { after: "kick" }, T)
    r.echo_b_after = await push(ctx, chb, "echo", { after: "kick" }, T)
    r.a_events = a.events
    r.b_events = b.events
    return r
  },

  // V2 binary payloads in all three directions.
  async binary(ctx, { users, room }) {
    const a = new Client(ctx, "a", { token: user(users[0]) }).connect()
    const b = new Client(ctx, "b", { token: user(users[1]) }).connect()
    const cha = a.channel(room, ["bin", "bin_all"])
    const chb = b.channel(room, ["bin", "bin_all"])
    const r = { join_a: await join(ctx, cha, T), join_b: await join(ctx, chb, T) }
    r.push_binary = await push(ctx, cha, "push_binary", {}, T)
    await waitFor(() => a.chanEvents(room, "bin").length > 0, T)
    r.binary = await push(ctx, cha, "binary", bytes(9, 8, 7), T)
    r.broadcast_binary = await push(ctx, cha, "broadcast_binary", {}, T)
    const allGot = (c) => c.chanEvents(room, "bin_all").length > 0
    await waitFor(() => allGot(a) && allGot(b), T)
    await sleep(100)
    const payloads = (c, ev) => c.chanEvents(room, ev).map((e) => e.payload)
    r.a_bin = payloads(a, "bin")
    r.b_bin = payloads(b, "bin")
    r.a_bin_all = payloads(a, "bin_all")
    r.b_bin_all = payloads(b, "bin_all")
    r.a_join_ref = cha.joinRef()
    r.a_messages = a.events.filter((e) => e.type === "message" && e.msg.topic === room).map((e) => e.msg)
    return r
  },

  // slow {ms:300} then echo right away on the same topic.
  async slow(ctx, { user: id, room }) {
    const c = new Client(ctx, "c", { token: user(id) }).connect()
    const ch = c.channel(room)
    const r = { join: await join(ctx, ch, T) }
    const slow = push(ctx, ch, "slow", { ms: 300 }, T)
    const echo = push(ctx, ch, "echo", { during: "slow" }, T)
    r.slow = await slow
    r.echo = await echo
    return r
  },

  // Two channel objects for one topic on one socket: phoenix.js leaves the
  // first (phx_leave with its join_ref) before joining with the second.
  async dup_join(ctx, { user: id, room }) {
    const c = new Client(ctx, "c", { token: user(id) }).connect()
    const first = c.channel(room, [], "first")
    const r = { join_first: await join(ctx, first, T) }
    const second = c.channel(room, [], "second")
    r.join_second = await join(ctx, second, T)
    await sleep(300) // a stray phx_close for the new join_ref would arrive here
    r.first_state = first.state
    r.second_state = second.state
    r.echo_second = await push(ctx, second, "echo", { via: "second" }, T)
    r.second_state_after = second.state
    r.events = c.events
    return r
  },

  // Join deadline (server started with a short -join-deadline): an idle
  // socket is closed with 4408, a socket that joined stays open.
  async join_deadline(ctx, { user: id, room, observeMs }) {
    const idle = new Client(ctx, "idle", { token: user(`${id}_idle`), cooperative: true }).connect()
    const active = new Client(ctx, "active", { token: user(id) }).connect()
    const ch = active.channel(room)
    const r = { join: await join(ctx, ch, T) }
    r.idle_closed = await waitFor(() => idle.count("close") > 0, T)
    // The joined socket must outlive the idle one's deadline: watch it for
    // at least observeMs from the start and 1 s after the idle close.
    await sleep(Math.max(1000, observeMs - (Date.now() - ctx.t0)))
    r.active_echo = await push(ctx, ch, "echo", { still: "open" }, T)
    r.idle_events = idle.events
    r.active_events = active.events
    return r
  },
}

module.exports = scenarios
