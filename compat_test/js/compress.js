"use strict"
// permessage-deflate with phoenix.js over Node's `ws` (which offers the
// extension by default: "permessage-deflate; client_max_window_bits").
// Loaded with
//   node --require ./js/compress.js js/run.js <scenario>
// it adds its scenarios to scenarios.js's table, as presence.js does.
//
// What arrived compressed is seen from outside phoenix.js: the extension
// `ws` negotiated (WebSocket#extensions) and the bytes its TCP socket read
// while a large, very compressible broadcast came in.

const { Client, waitFor, join, push } = require("./harness")

// wsOf is the `ws` WebSocket under a phoenix.js Socket (socket.conn).
const wsOf = (client) => client.socket.conn
const bytesRead = (client) => wsOf(client)._socket.bytesRead

const compressScenarios = {
  // a and b join room; a sends an echo and a new_msg with a long body
  // (`ws` compresses its own frames from 1 KiB); b receives the broadcast.
  async compress_chat(ctx, { room, bodyLen }) {
    const a = new Client(ctx, "a", { token: "user:alice" }).connect()
    const b = new Client(ctx, "b", { token: "user:bob" }).connect()
    const cha = a.channel(room, ["new_msg"])
    const chb = b.channel(room, ["new_msg"])
    const r = { join_a: await join(ctx, cha, 5000), join_b: await join(ctx, chb, 5000) }
    r.extensions_a = wsOf(a).extensions // "permessage-deflate" when negotiated, "" otherwise
    r.extensions_b = wsOf(b).extensions
    const pmd = wsOf(a)._extensions["permessage-deflate"]
    r.params = pmd ? pmd.params : null // what the server answered
    const body = "the quick brown fox jumps over the lazy dog. ".repeat(Math.ceil(bodyLen / 45)).slice(0, bodyLen)
    // Twice each: no compression context may carry over between messages.
    r.echo = []
    for (let i = 0; i < 2; i++) {
      const res = await push(ctx, cha, "echo", { body, i }, 5000)
      r.echo.push({ status: res.status, same: res.response && res.response.body === body && res.response.i === i })
    }
    r.broadcasts = []
    for (let i = 0; i < 2; i++) {
      const before = bytesRead(b)
      const res = await push(ctx, cha, "new_msg", { body: body + i }, 5000)
      const got = await waitFor(() => b.chanEvents(room, "new_msg").length === i + 1, 5000)
      const ev = b.chanEvents(room, "new_msg")[i]
      r.broadcasts.push({
        status: res.status,
        received: got,
        same: !!ev && ev.payload.body === body + i && ev.payload.user === "alice",
        bytes_read: bytesRead(b) - before,
      })
    }
    r.small = await push(ctx, cha, "echo", { x: 1 }, 5000)
    return r
  },
}

const table = require("./scenarios")
for (const name of Object.keys(compressScenarios)) {
  if (table[name]) throw new Error(`compress.js: scenario ${name} already exists`)
  table[name] = compressScenarios[name]
}

module.exports = compressScenarios
