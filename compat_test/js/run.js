"use strict"
// Runs one scenario with a real phoenix.js client and prints one JSON object
// on stdout:
//   {"lib":"phoenix","version":"1.8.16","scenario":"…","result":{…}}
// or, when the scenario threw or ran out of time,
//   {"lib":…,"version":…,"scenario":…,"error":"…","partial":{clients' events}}
//
// Usage: node js/run.js <scenario>
// Environment:
//   PHX_URL         socket endpoint, e.g. ws://127.0.0.1:4000/socket (required)
//   PHX_LIB         phoenix (1.8.16) or phoenix17 (1.7.23); default phoenix
//   PHX_ARGS        JSON object handed to the scenario; default {}
//   PHX_TIMEOUT_MS  hard bound for the whole scenario; default 60000
//
// The process always exits by itself: 0 after printing a result, 1 after
// printing an error.

const { loadPhoenix, sleep } = require("./harness")
const scenarios = require("./scenarios")

async function main() {
  const name = process.argv[2]
  const lib = process.env.PHX_LIB || "phoenix"
  const ctx = { url: process.env.PHX_URL, t0: Date.now(), clients: [], replies: 0 }
  const head = { lib, version: null, scenario: name }
  const finish = (out, code) => {
    // Stop every client so no reconnect timer keeps running, then exit.
    for (const c of ctx.clients) {
      try {
        c.socket.disconnect()
      } catch (_e) {
        // already gone
      }
    }
    process.stdout.write(JSON.stringify(Object.assign(head, out)) + "\n", () => process.exit(code))
  }
  const partial = () => Object.fromEntries(ctx.clients.map((c) => [c.name, c.events]))

  const timeoutMs = Number(process.env.PHX_TIMEOUT_MS || 60000)
  const timer = setTimeout(() => finish({ error: `scenario timed out after ${timeoutMs} ms`, partial: partial() }, 1), timeoutMs)

  try {
    if (!ctx.url) throw new Error("PHX_URL is not set")
    const { Phoenix, version } = loadPhoenix(lib)
    ctx.Phoenix = Phoenix
    head.version = version
    ctx.args = JSON.parse(process.env.PHX_ARGS || "{}")
    const fn = scenarios[name]
    if (!fn) throw new Error(`unknown scenario ${JSON.stringify(name)}; known: ${Object.keys(scenarios).join(", ")}`)
    const result = await fn(ctx, ctx.args)
    // Serialize now: disconnecting below would append close events.
    const snapshot = JSON.parse(JSON.stringify(result))
    clearTimeout(timer)
    await sleep(0)
    finish({ result: snapshot }, 0)
  } catch (e) {
    clearTimeout(timer)
    finish({ error: String((e && e.stack) || e), partial: partial() }, 1)
  }
}

main()
