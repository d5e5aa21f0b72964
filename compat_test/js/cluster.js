"use strict"
// A long-lived driver for the multi-node tests (cluster_test.go): real
// phoenix.js clients, each connected to the phxd node the test names, kept
// open while the test kills nodes and stops Redis under them.
//
// Usage: node js/cluster.js   (PHX_LIB picks the phoenix.js version)
//
// stdin: one JSON command per line
//   {"op":"open","id":…,"url":…,"user":…,"room":…}  connect as user:<user>, join room, watch its Presence
//   {"op":"push","id":…,"ref":…,"event":…,"payload":{…}}  push on the client's room channel
//   {"op":"stop","id":…}  disconnect the client for good
// stdout: one JSON event per line, every one with "id" (the client's):
//   {"ev":"open"} {"ev":"close","code":…} {"ev":"joined","status":…}
//   {"ev":"reply","ref":…,"status":…,"response":…}
//   {"ev":"msg","topic":…,"event":…,"payload":…}  every message but replies and presence frames
//   {"ev":"sync","keys":[…],"refs":{key:[phx_ref…]}}  presence.list() after each onSync, sorted
//   {"ev":"leave","key":…,"gone":bool}  onLeave; gone: the key has no meta left
// The Go side keeps the log and judges; this script decides nothing.
// It exits when stdin closes.

const readline = require("readline")
const WebSocket = require("ws")
const { loadPhoenix, plain } = require("./harness")

const { Phoenix } = loadPhoenix(process.env.PHX_LIB || "phoenix")
const clients = new Map()

function emit(id, ev) {
  process.stdout.write(JSON.stringify(Object.assign({ id }, ev)) + "\n")
}

function open({ id, url, user, room }) {
  const socket = new Phoenix.Socket(url, {
    transport: WebSocket,
    params: { token: `user:${user}` },
    timeout: 10000,
    reconnectAfterMs: () => 200,
    rejoinAfterMs: () => 200,
  })
  socket.onOpen(() => emit(id, { ev: "open" }))
  socket.onClose((e) => emit(id, { ev: "close", code: e && e.code }))
  socket.onMessage((m) => {
    if (m.event === "phx_reply" || m.event === "presence_state" || m.event === "presence_diff") return
    emit(id, { ev: "msg", topic: m.topic, event: m.event, payload: plain(m.payload) })
  })
  const ch = socket.channel(room, {})
  const presence = new Phoenix.Presence(ch)
  presence.onSync(() => {
    const refs = {}
    presence.list((key, { metas }) => (refs[key] = metas.map((m) => m.phx_ref).sort()))
    emit(id, { ev: "sync", keys: Object.keys(refs).sort(), refs })
  })
  presence.onLeave((key, cur) => emit(id, { ev: "leave", key, gone: !cur || cur.metas.length === 0 }))
  socket.connect()
  ch.join(10000)
    .receive("ok", () => emit(id, { ev: "joined", status: "ok" }))
    .receive("error", (r) => emit(id, { ev: "joined", status: "error", response: plain(r) }))
    .receive("timeout", () => emit(id, { ev: "joined", status: "timeout" }))
  clients.set(id, { socket, ch })
}

function push({ id, ref, event, payload }) {
  const c = clients.get(id)
  const done = (status) => (r) => emit(id, { ev: "reply", ref, status, response: plain(r) })
  c.ch.push(event, payload || {}, 10000).receive("ok", done("ok")).receive("error", done("error")).receive("timeout", done("timeout"))
}

function stop({ id }) {
  const c = clients.get(id)
  c.socket.disconnect()
  emit(id, { ev: "stopped" })
}

const ops = { open, push, stop }
const rl = readline.createInterface({ input: process.stdin })
rl.on("line", (line) => {
  let cmd
  try {
    cmd = JSON.parse(line)
    ops[cmd.op](cmd)
  } catch (e) {
    emit(cmd && cmd.id, { ev: "error", message: String((e && e.stack) || e), line })
  }
})
rl.on("close", () => {
  for (const c of clients.values()) c.socket.disconnect()
  process.exit(0)
})
