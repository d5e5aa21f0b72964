"use strict"
// Presence scenarios: the real phoenix.js Presence class (1.8 and 1.7)
// against phxd's room:* presence (cmd/phxd/README.md). Loaded with
//   node --require ./js/presence.js js/run.js <scenario>
// it adds its scenarios to scenarios.js's table (run.js looks names up
// there), so run.js and harness.js are reused unchanged.
//
// As in scenarios.js, scenarios record and return; the Go side judges.

const { Client, sleep, waitFor, join, push } = require("./harness")

const user = (id) => `user:${id}`

// watch wraps a Client's channel in a phoenix.js Presence and records its
// callbacks: {type:"join", key, cur:[refs]|null, joined:[refs]} and
// {type:"leave", key, cur:[refs], left:[refs]}, plus onSync counts.
function watch(ctx, name, id, room, opts = {}) {
  const client = new Client(ctx, name, Object.assign({ token: user(id) }, opts)).connect()
  const ch = client.channel(room)
  const presence = new ctx.Phoenix.Presence(ch)
  const w = { name, client, ch, presence, callbacks: [], syncs: 0 }
  const refs = (p) => (p ? p.metas.map((m) => m.phx_ref) : null)
  presence.onJoin((key, cur, joined) => w.callbacks.push({ type: "join", key, cur: refs(cur), joined: refs(joined) }))
  presence.onLeave((key, cur, left) => w.callbacks.push({ type: "leave", key, cur: refs(cur), left: refs(left) }))
  presence.onSync(() => w.syncs++)
  return w
}

// list is presence.list() as [{key, metas:[{ref, prev, status, online_at}]}]
// sorted by key; metas keep phoenix.js's order.
function list(w) {
  return w.presence
    .list((key, { metas }) => ({
      key,
      metas: metas.map((m) => ({
        ref: m.phx_ref,
        prev: m.phx_ref_prev || null,
        status: m.status === undefined ? null : m.status,
        online_at: m.online_at,
      })),
    }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
}

const metas = (w, key) => {
  const e = list(w).find((p) => p.key === key)
  return e ? e.metas : []
}
const keys = (w) => list(w).map((p) => p.key)

const presenceScenarios = {
  // One observer (a) watches b and c come and go every way a presence can
  // end. Each step waits for a's view to change and snapshots it.
  async presence_lifecycle(ctx, { users: [a, b, c], room }) {
    const fastRejoin = { rejoinAfterMs: () => 200 }
    const A = watch(ctx, "a", a, room)
    const r = { steps: [] }
    const snap = (step, ok, extra = {}) =>
      r.steps.push(Object.assign({ step, ok, a: list(A), a_callbacks: A.callbacks.length }, extra))

    r.join_a = await join(ctx, A.ch, 5000)
    snap("a_joined", await waitFor(() => metas(A, a).length === 1, 5000))

    const B1 = watch(ctx, "b1", b, room)
    r.join_b1 = await join(ctx, B1.ch, 5000)
    const bothSee = () => metas(A, b).length === 1 && metas(B1, a).length === 1 && metas(B1, b).length === 1
    snap("b_joined", await waitFor(bothSee, 5000), { b1: list(B1) })

    r.set_status = await push(ctx, B1.ch, "set_status", { status: "away" }, 3000)
    snap("b_away", await waitFor(() => metas(A, b).some((m) => m.status === "away"), 5000))

    const B2 = watch(ctx, "b2", b, room) // the same user on a second socket
    r.join_b2 = await join(ctx, B2.ch, 5000)
    snap("b_second_socket", await waitFor(() => metas(A, b).length === 2 && metas(B2, b).length === 2, 5000), {
      b2: list(B2),
    })

    B1.ch.leave()
    snap("b1_left", await waitFor(() => metas(A, b).length === 1, 5000))

    const C = watch(ctx, "c", c, room, fastRejoin)
    r.join_c = await join(ctx, C.ch, 5000)
    await waitFor(() => metas(A, c).length === 1, 5000)
    const cRef = metas(A, c).length ? metas(A, c)[0].ref : null
    r.c_first_ref = cRef
    const crashed = push(ctx, C.ch, "crash", {}, 1000)
    const rejoined = () => {
      const m = metas(A, c)
      return m.length === 1 && m[0].ref !== cRef && metas(C, c).length === 1 && metas(C, c)[0].ref === m[0].ref
    }
    snap("c_crashed_and_rejoined", await waitFor(rejoined, 8000), { c: list(C) })
    r.crash = await crashed

    B2.client.socket.disconnect()
    snap("b2_disconnected", await waitFor(() => !keys(A).includes(b), 5000))

    // Abrupt TCP loss: destroy c's TCP socket (no close frame), then stop
    // phoenix.js from reconnecting.
    const ws = C.client.socket.conn
    ws._socket.destroy()
    C.client.socket.disconnect()
    snap("c_tcp_lost", await waitFor(() => !keys(A).includes(c), 5000))

    await sleep(150) // anything late (a ghost's diff) would show here
    r.final = list(A)
    r.a_callbacks = A.callbacks
    r.a_syncs = A.syncs
    r.b1_callbacks = B1.callbacks
    return r
  },

  // n clients join at once; the first `leavers` of them leave as soon as
  // they are in. The observer's list must end with exactly the others.
  async presence_burst(ctx, { observer, users, leavers, room }) {
    const O = watch(ctx, "obs", observer, room)
    const r = { join_obs: await join(ctx, O.ch, 5000) }
    const ws = users.map((id, i) => watch(ctx, `u${i}`, id, room))
    r.joins = await Promise.all(ws.map((w) => join(ctx, w.ch, 10000)))
    for (let i = 0; i < leavers; i++) ws[i].ch.leave()
    const want = [observer, ...users.slice(leavers)].sort()
    const same = (w) => JSON.stringify(keys(w)) === JSON.stringify(want)
    r.converged = await waitFor(() => same(O) && ws.slice(leavers).every(same), 10000)
    await sleep(200)
    r.obs = keys(O)
    r.views = ws.slice(leavers).map(keys)
    r.obs_diffs = O.client.events.filter((e) => e.type === "message" && e.msg.event === "presence_diff").length
    r.obs_multi_meta = list(O).filter((p) => p.metas.length !== 1).map((p) => p.key)
    return r
  },
}

// Register with run.js's table (same module object, via require's cache).
const table = require("./scenarios")
for (const name of Object.keys(presenceScenarios)) {
  if (table[name]) throw new Error(`presence.js: scenario ${name} already exists`)
  table[name] = presenceScenarios[name]
}

module.exports = presenceScenarios
