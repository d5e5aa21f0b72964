"use strict"
// phxsoak's chat: unmodified phoenix.js clients (from compat_test's
// node_modules, found through NODE_PATH) with the `ws` package as their
// WebSocket. Each client joins one room and sends new_msg at a steady rate;
// every push's round trip (push to ok reply) is printed to stdout as a JSON
// line, as are failures, so that phxsoak can compute percentiles.
//
// Environment: SOAK_URL (ws://host:port/socket), SOAK_CLIENTS (default 4),
// SOAK_RATE (messages per second per client, default 5), SOAK_DURATION_MS,
// SOAK_ROOM (default room:soak_chat).
//
// Lines: {"ev":"rtt","ms":1.2} | {"ev":"push_error"|"push_timeout"} |
// {"ev":"open"|"close"|"socket_error","client":i} | {"ev":"join","status":s} |
// {"ev":"done","received":n,"version":v}

const WebSocket = require("ws")
const Phoenix = require("phoenix")
// package.json is not in phoenix's "exports": read it from NODE_PATH.
const version = JSON.parse(
  require("fs").readFileSync(require("path").join(process.env.NODE_PATH, "phoenix", "package.json"), "utf8")
).version

const url = process.env.SOAK_URL
const clients = parseInt(process.env.SOAK_CLIENTS || "4", 10)
const rate = parseFloat(process.env.SOAK_RATE || "5")
const durationMs = parseInt(process.env.SOAK_DURATION_MS || "10000", 10)
const room = process.env.SOAK_ROOM || "room:soak_chat"

const out = (o) => process.stdout.write(JSON.stringify(o) + "\n")
let received = 0
const sockets = []
const timers = []

for (let i = 0; i < clients; i++) {
  const socket = new Phoenix.Socket(url, {
    transport: WebSocket,
    params: { token: "user:soak_chat" + i },
    timeout: 10000,
  })
  socket.onOpen(() => out({ ev: "open", client: i }))
  socket.onClose((e) => out({ ev: "close", client: i, code: e && e.code }))
  socket.onError(() => out({ ev: "socket_error", client: i }))
  socket.connect()
  const channel = socket.channel(room, {})
  channel.on("new_msg", () => received++)
  channel
    .join()
    .receive("ok", () => out({ ev: "join", client: i, status: "ok" }))
    .receive("error", (r) => out({ ev: "join", client: i, status: "error", reason: r && r.reason }))
    .receive("timeout", () => out({ ev: "join", client: i, status: "timeout" }))
  let seq = 0
  // stagger the clients over one period
  const start = setTimeout(() => {
    timers.push(
      setInterval(() => {
        if (!channel.state || channel.state !== "joined") return
        const t0 = performance.now()
        channel
          .push("new_msg", { body: "c" + i + "-" + seq++ }, 10000)
          .receive("ok", () => out({ ev: "rtt", ms: performance.now() - t0 }))
          .receive("error", () => out({ ev: "push_error" }))
          .receive("timeout", () => out({ ev: "push_timeout" }))
      }, 1000 / rate)
    )
  }, (i * 1000) / rate / clients)
  timers.push(start)
  sockets.push(socket)
}

setTimeout(() => {
  timers.forEach((t) => clearInterval(t))
  // let the last replies arrive
  setTimeout(() => {
    out({ ev: "done", received, version })
    sockets.forEach((s) => s.disconnect())
    setTimeout(() => process.exit(0), 200)
  }, 1000)
}, durationMs)
