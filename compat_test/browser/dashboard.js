"use strict"
// The dashboard scenario: phxd's live dashboard (/dashboard/) in Chromium
// at a laptop's 1280×800, while this process opens and closes WebSocket
// sockets (the ws package, as compat_test's Node clients): the page must
// show the socket count live, without a reload. ../browser_dashboard_test.go
// judges the result and the screenshot.

const path = require("node:path")
const fs = require("node:fs")
const WebSocket = require("ws")
const { WAIT_MS } = require("./harness")

const VIEWPORT = { width: 1280, height: 800 }

// openSocket connects as user and joins topic; it resolves on the join's
// ok reply.
function openSocket(base, user, topic) {
  return new Promise((resolve, reject) => {
    const url = base.replace(/^http/, "ws") + "/socket/websocket?vsn=2.0.0&token=user:" + user
    const ws = new WebSocket(url)
    const timer = setTimeout(() => reject(new Error(`socket ${user}: no join reply`)), WAIT_MS)
    ws.on("open", () => ws.send(JSON.stringify(["1", "1", topic, "phx_join", {}])))
    ws.on("message", (data) => {
      const [, ref, , event, payload] = JSON.parse(String(data))
      if (ref === "1" && event === "phx_reply") {
        clearTimeout(timer)
        if (payload.status === "ok") resolve(ws)
        else reject(new Error(`socket ${user}: join refused ${JSON.stringify(payload)}`))
      }
    })
    ws.on("error", (err) => { clearTimeout(timer); reject(err) })
  })
}

// waitText waits until the element's text is want.
async function waitText(page, id, want) {
  try {
    await page.waitForFunction(([i, w]) => document.getElementById(i).textContent.trim() === w,
      [id, want], { timeout: WAIT_MS, polling: 50 })
  } catch (err) {
    const got = await page.evaluate((i) => document.getElementById(i).textContent, id).catch(() => "?")
    const e = new Error(`dashboard: #${id} never showed ${JSON.stringify(want)} (last ${JSON.stringify(got)})`)
    throw e
  }
}

// openDashboard opens /dashboard/ in a new browser context and waits until
// it shows no socket and its status has class cls (live: the stream;
// polling: refused a stream, polling the snapshot).
async function openDashboard(h, name, cls) {
  const context = await h.browser.newContext({ viewport: VIEWPORT, deviceScaleFactor: 1 })
  const page = await context.newPage()
  page.setDefaultTimeout(WAIT_MS)
  page.phxName = name
  h.pages.push(page)
  page.on("console", (m) => {
    // A refused stream (503) is expected on the polling page.
    if ((m.type() === "error" || m.type() === "warning") && !/503/.test(m.text())) {
      h.console.push(`${name} console.${m.type()}: ${m.text()}`)
    }
  })
  page.on("pageerror", (e) => h.console.push(`${name} pageerror: ${e.message}`))
  page.loads = 0
  page.on("load", () => { page.loads++ })
  await page.goto(h.base + "/dashboard/")
  await waitText(page, "sockets", "0")
  await page.waitForFunction((c) => document.getElementById("status").classList.contains(c), cls)
  await page.evaluate(() => { window.__sameDocument = true })
  return page
}

async function dashboard(h, args) {
  const { n, close, room } = args
  const page = await openDashboard(h, "dashboard", "live")
  // phxd runs with -dashboard-streams 1: a second page gets no stream and
  // polls instead, and must follow the sockets all the same.
  const poller = await openDashboard(h, "poller", "polling")

  const sockets = []
  try {
    for (let i = 0; i < n; i++) sockets.push(await openSocket(h.base, `dash${i}`, "room:" + room))
    await waitText(page, "sockets", String(n))
    await waitText(page, "channels", String(n))
    await waitText(poller, "sockets", String(n))
    const shown = await page.evaluate(() => ({
      sockets: document.getElementById("sockets").textContent.trim(),
      websockets: document.getElementById("websockets").textContent.trim(),
      channels: document.getElementById("channels").textContent.trim(),
      topRow: document.querySelector("#top-subs tr").textContent,
      status: document.getElementById("status").textContent,
      sameDocument: window.__sameDocument === true,
      scrollWidth: document.documentElement.scrollWidth,
      scrollHeight: document.documentElement.scrollHeight,
    }))
    let shot = ""
    if (h.shotsDir) {
      fs.mkdirSync(h.shotsDir, { recursive: true })
      shot = path.join(h.shotsDir, `${h.shotPrefix}-dashboard.png`)
      await page.screenshot({ path: shot }) // the viewport: what a laptop shows
      h.screenshots.push(shot)
    }
    for (const ws of sockets.splice(0, close)) ws.close()
    await waitText(page, "sockets", String(n - close))
    await waitText(poller, "sockets", String(n - close))
    const read = () => ({
      sockets: document.getElementById("sockets").textContent.trim(),
      status: document.getElementById("status").textContent,
      sameDocument: window.__sameDocument === true,
    })
    const after = await page.evaluate(read)
    const polled = await poller.evaluate(read)
    return { shown, after, polled, loads: page.loads + poller.loads, shot }
  } finally {
    for (const ws of sockets) ws.close()
  }
}

module.exports = { dashboard }
