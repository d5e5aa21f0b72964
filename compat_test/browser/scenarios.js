"use strict"
// Browser scenarios against phxd's demo page. Each records what the page
// observed (snapshots) and saves screenshots; it asserts nothing beyond
// waiting for what it needs to go on. ../browser_test.go judges the result
// together with phxd's log.
//
// Every wait is for an event or a state of the page (waitFor, waitSnapshot:
// generous timeouts, never a fixed delay), and a snapshot that must show a
// state is taken atomically with the check that the state holds
// (waitSnapshot), before any screenshot: a screenshot can take seconds on a
// loaded machine. The only fixed delays are observation windows (observe)
// in which the page must not do something, such as reconnect.

const {
  snapshot, waitSnapshot, waitFor, connectAs, waitJoined, waitOnline, sendMessage, waitMessage, observe, WAIT_MS,
} = require("./harness")

const scenarios = {}

// chat: two people (two browser contexts) in one room: presence, messages
// both ways, a status.
scenarios.chat = async (h, args) => {
  const { alice, bob, room } = args
  const topic = "room:" + room
  const a = await h.open("alice")
  const b = await h.open("bob")
  await connectAs(a, { user: alice, room, keyboard: true })
  await connectAs(b, { user: bob, room })
  await waitJoined(a, topic)
  await waitJoined(b, topic)
  await waitOnline(a, [alice, bob])
  await waitOnline(b, [alice, bob])

  await sendMessage(a, "hello from " + alice)
  await waitMessage(b, alice, "hello from " + alice)
  await waitMessage(a, alice, "hello from " + alice)
  await sendMessage(b, "hi " + alice)
  await waitMessage(a, bob, "hi " + alice)

  await b.fill("#status", "away")
  await b.press("#status", "Enter")
  await waitFor(a, `${bob}'s status`, (u) => window.phxDemo.online.some((p) => p.user === u && p.status === "away"), bob)
  await waitFor(b, `own status`, (u) => window.phxDemo.online.some((p) => p.user === u && p.status === "away"), bob)
  // The state line is refreshed every 200 ms by a page timer, which a loaded
  // machine delays: wait until both pages show it, rather than read it stale.
  await waitFor(a, "the state line showing open", () => window.phxDemo.state === "open")
  await waitFor(b, "the state line showing open", () => window.phxDemo.state === "open")

  const res = { alice: await snapshot(a), bob: await snapshot(b) }
  await h.shot(a, "alice")
  await h.shot(b, "bob")
  return res
}

// rejected: one of the panel's "refused connect" buttons, with the
// recommended pattern on (args.pattern false: ?pattern=off; args.query: more
// page options). Observes args.observeMs after the first close.
scenarios.rejected = async (h, args) => {
  const query = [args.pattern === false ? "pattern=off" : "", args.query || ""].filter(Boolean).join("&")
  const p = await h.open("page", query)
  await p.click(args.button)
  // The page has reacted to the first close: with the recommended pattern it
  // stopped; without it, it notes that phoenix.js reconnects by itself.
  await waitFor(p, "the page's reaction to the first close", (want) =>
    window.phxDemo.closes.length >= 1 && document.getElementById("client-action").textContent.includes(want),
  args.pattern === false ? "plain phoenix.js" : "stopped reconnecting")
  await h.shot(p, "refused")
  await observe(args.observeMs) // it must not reconnect (pattern on) / keeps retrying (off)
  const page = await snapshot(p)
  await h.shot(p, "after")
  return { page }
}

// overloaded: the "overloaded" token: 4503 try_later with retry_after_ms;
// the page disconnects and comes back after the advised delay.
scenarios.overloaded = async (h, args) => {
  const p = await h.open("page")
  await p.click("#connect-overloaded")
  const first = await waitSnapshot(p, "the first close",
    () => window.phxDemo.closes.length >= 1 && window.__phxSnapshot())
  // The countdown to the advised retry, as the panel shows it.
  const waiting = await waitSnapshot(p, "the retry countdown", () =>
    window.phxDemo.closes.length === 1 && window.phxDemo.state === "waiting" &&
    document.getElementById("socket-state").textContent.includes("retrying in") && window.__phxSnapshot())
  await h.shot(p, "waiting")
  // The retry (after retry_after_ms), refused again, and the next countdown.
  const page = await waitSnapshot(p, "the retry's close and the next countdown", () =>
    window.phxDemo.closes.length >= 2 && window.phxDemo.state === "waiting" && window.__phxSnapshot(),
  undefined, args.retryTimeoutMs || WAIT_MS)
  await h.shot(p, "retried")
  return { first, waiting, page }
}

// deadline: a good token and no room: the server's join deadline closes
// the socket.
scenarios.deadline = async (h, args) => {
  const p = await h.open("page")
  await connectAs(p, { user: args.user, room: "" })
  await waitFor(p, "open", () => window.phxDemo.opens.length >= 1)
  await waitFor(p, "the close and the page's reaction", () =>
    window.phxDemo.closes.length >= 1 && document.getElementById("client-action").textContent.includes("stopped reconnecting"))
  await observe(args.observeMs) // it must not reconnect
  const page = await snapshot(p)
  await h.shot(p, "closed")
  return { page }
}

// longpoll: one page on LongPoll (?transport=longpoll), one on WebSocket,
// chatting in one room.
scenarios.longpoll = async (h, args) => {
  const { lp, ws, room } = args
  const topic = "room:" + room
  const a = await h.open("longpoll", "transport=longpoll")
  const b = await h.open("websocket")
  await connectAs(a, { user: lp, room })
  await connectAs(b, { user: ws, room })
  await waitJoined(a, topic)
  await waitJoined(b, topic)
  await waitOnline(a, [lp, ws])
  await waitOnline(b, [lp, ws])
  await sendMessage(a, "sent over longpoll")
  await waitMessage(b, lp, "sent over longpoll")
  await waitMessage(a, lp, "sent over longpoll")
  await sendMessage(b, "sent over websocket")
  await waitMessage(a, ws, "sent over websocket")
  const res = { longpoll: await snapshot(a), websocket: await snapshot(b) }
  await h.shot(a, "longpoll")
  return res
}

// fallback: WebSocket upgrades refused (?ws=broken: the page's WebSocket
// class goes to a path that answers 404), longPollFallbackMs 500: phoenix.js
// falls back to LongPoll, joins, chats.
scenarios.fallback = async (h, args) => {
  const { user, room } = args
  const topic = "room:" + room
  const p = await h.open("page", `ws=broken&longPollFallbackMs=${args.fallbackMs}`)
  await connectAs(p, { user, room })
  await waitJoined(p, topic)
  await waitOnline(p, [user])
  await sendMessage(p, "after the fallback")
  await waitMessage(p, user, "after the fallback")
  await p.fill("#status", "on longpoll")
  await p.press("#status", "Enter")
  await waitFor(p, "own status", (u) => window.phxDemo.online.some((x) => x.user === u && x.status === "on longpoll"), user)
  const page = await snapshot(p)
  await h.shot(p, "fallback")
  return { page }
}

// missing: the page when phoenix.js is not installed: it loads and says so.
scenarios.missing = async (h) => {
  const context = await h.browser.newContext({ viewport: { width: 1200, height: 700 } })
  const p = await context.newPage()
  await p.goto(h.base + "/")
  await p.waitForFunction(() => window.phxDemo && window.phxDemo.ready, undefined, { timeout: WAIT_MS })
  await h.shot(p, "notice")
  return await p.evaluate(() => ({
    loadError: window.phxDemo.loadError,
    notice: document.getElementById("notice").hidden ? "" : document.getElementById("notice").textContent.trim(),
    connectDisabled: document.getElementById("connect").disabled,
  }))
}

Object.assign(scenarios, require("./dashboard")) // the live dashboard (dashboard.js)

module.exports = scenarios
