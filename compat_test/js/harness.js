"use strict"
// Small helpers around an unmodified phoenix.js client running in Node with
// the `ws` package as its WebSocket transport. Scenarios (scenarios.js) use
// them to drive phxd and to record what the client observes; run.js prints
// the record as JSON for the Go tests to assert on.
//
// Nothing here patches phoenix.js: every observation goes through its public
// callbacks (socket.onOpen/onClose/onError/onMessage, channel.on/onError/
// onClose, push.receive).

const fs = require("fs")
const path = require("path")
const WebSocket = require("ws")

// LIBS maps the PHX_LIB value to the npm package (see package.json).
const LIBS = {
  phoenix: "phoenix", // 1.8.16
  phoenix17: "phoenix17", // npm:phoenix@1.7.23
}

function loadPhoenix(lib) {
  const pkg = LIBS[lib]
  if (!pkg) throw new Error(`unknown PHX_LIB ${JSON.stringify(lib)}`)
  if (pkg === "phoenix17") {
    // 1.7 finds its globals through `self` or `window` only (its own
    // `var global` hides Node's), and its LongPoll needs XMLHttpRequest
    // (1.8 falls back to fetch). Provide what a browser page has.
    if (typeof globalThis.self === "undefined") globalThis.self = globalThis
    if (!globalThis.XMLHttpRequest) globalThis.XMLHttpRequest = require("./xhr").XMLHttpRequest
  }
  const Phoenix = require(pkg) // the package's CommonJS bundle
  // package.json is not in the packages' "exports": read it from disk.
  const pkgJSON = path.join(__dirname, "..", "node_modules", pkg, "package.json")
  const version = JSON.parse(fs.readFileSync(pkgJSON, "utf8")).version
  return { Phoenix, version }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// waitFor polls cond every 5 ms until it is true (returns true) or timeoutMs
// passes (returns false). It never throws: a missing observation is for the
// Go side to report, with everything else that was recorded.
async function waitFor(cond, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (cond()) return true
    if (Date.now() >= deadline) return false
    await sleep(5)
  }
}

function hex(buf) {
  return Buffer.from(buf).toString("hex")
}

// plain turns a value received from phoenix.js into JSON-safe data:
// ArrayBuffers become {"$binary": "<hex>"}, undefined becomes null.
function plain(value) {
  if (value === undefined) return null
  return JSON.parse(
    JSON.stringify(value, (_key, v) => {
      if (v instanceof ArrayBuffer) return { $binary: hex(v) }
      if (ArrayBuffer.isView(v)) return { $binary: hex(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength)) }
      return v
    }),
  )
}

function bytes(...values) {
  return new Uint8Array(values).buffer
}

// Client wraps one phoenix.js Socket and records, in order, every event the
// application can observe. Event shapes (all have "t", ms since start):
//   {type:"open"}
//   {type:"close", code, reason, wasClean}
//   {type:"error", message}
//   {type:"message", msg:{topic, event, payload, ref, join_ref}}
//   {type:"chan_error", topic, label, payload}         channel.onError
//   {type:"chan_close", topic, label, payload}         channel.onClose
//   {type:"chan_event", topic, label, event, payload}  channel.on(event)
//   {type:"mark", message}                             a scenario step (mark)
class Client {
  constructor(ctx, name, opts = {}) {
    this.ctx = ctx
    this.name = name
    this.events = []
    const params = {}
    if (opts.token !== undefined && opts.token !== null) params.token = opts.token
    const socketOpts = {
      transport: opts.longpoll ? ctx.Phoenix.LongPoll : WebSocket,
      params,
      timeout: opts.timeout || 10000,
    }
    if (opts.vsn) socketOpts.vsn = opts.vsn
    if (opts.rejoinAfterMs) socketOpts.rejoinAfterMs = opts.rejoinAfterMs
    this.socket = new ctx.Phoenix.Socket(ctx.url, socketOpts)
    this.socket.onOpen(() => this.record({ type: "open" }))
    this.socket.onClose((e) =>
      this.record({ type: "close", code: e && e.code, reason: e && e.reason, wasClean: e && e.wasClean }),
    )
    this.socket.onError((e) => this.record({ type: "error", message: String((e && (e.message || e.type)) || e) }))
    this.socket.onMessage((m) =>
      this.record({
        type: "message",
        msg: { topic: m.topic, event: m.event, payload: plain(m.payload), ref: plain(m.ref), join_ref: plain(m.join_ref) },
      }),
    )
    if (opts.cooperative) {
      // The client pattern for refused connects (README.md, "The client
      // side of a rejected connect"): stop auto-reconnecting on 44xx closes
      // except 4429.
      this.socket.onClose((e) => {
        if (e && e.code >= 4400 && e.code < 4500 && e.code !== 4429) this.socket.disconnect()
      })
    }
    ctx.clients.push(this)
  }

  record(ev) {
    ev.t = Date.now() - this.ctx.t0
    this.events.push(ev)
  }

  // mark records a scenario step, e.g. "stop" right before the scenario's own
  // disconnect: what follows it is caused by the test, not the server.
  mark(name) {
    this.record({ type: "mark", message: name })
  }

  count(type) {
    return this.events.filter((e) => e.type === type).length
  }

  connect() {
    this.socket.connect()
    return this
  }

  // channel returns a phoenix.js Channel whose error/close callbacks and the
  // listed app events are recorded. label (default: the topic) names the
  // channel object in the record, for scenarios with two objects per topic.
  channel(topic, appEvents = [], label = topic) {
    const ch = this.socket.channel(topic, {})
    const rec = (ev) => this.record(Object.assign(ev, { topic, label }))
    ch.onError((payload) => rec({ type: "chan_error", payload: plain(payload) }))
    ch.onClose((payload) => rec({ type: "chan_close", payload: plain(payload) }))
    for (const event of appEvents) {
      ch.on(event, (payload) => rec({ type: "chan_event", event, payload: plain(payload) }))
    }
    return ch
  }

  chanEvents(topic, event) {
    return this.events.filter((e) => e.type === "chan_event" && e.topic === topic && e.event === event)
  }

  // ping sends socket.ping (a heartbeat on topic "phoenix") and resolves
  // true when the reply arrives, false after timeoutMs or when not connected.
  ping(timeoutMs = 3000) {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs)
      const sent = this.socket.ping(() => {
        clearTimeout(timer)
        resolve(true)
      })
      if (!sent) {
        clearTimeout(timer)
        resolve(false)
      }
    })
  }
}

// reply turns a phoenix.js Push into a promise of {status, response, order}
// where status is "ok", "error" or "timeout" and order is a counter shared by
// the whole scenario (to observe which reply arrived first).
function reply(ctx, push) {
  return new Promise((resolve) => {
    const done = (status) => (response) => resolve({ status, response: plain(response), order: ++ctx.replies })
    push.receive("ok", done("ok")).receive("error", done("error")).receive("timeout", done("timeout"))
  })
}

function join(ctx, channel, timeoutMs) {
  return reply(ctx, channel.join(timeoutMs))
}

function push(ctx, channel, event, payload, timeoutMs) {
  return reply(ctx, channel.push(event, payload, timeoutMs))
}

module.exports = { loadPhoenix, Client, sleep, waitFor, join, push, plain, bytes }
