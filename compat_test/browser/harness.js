"use strict"
// Browser harness: headless Chromium (Debian's chromium package) driven by
// playwright-core, opening phxd's demo page. The page records what it
// observes in window.phxDemo; scenarios read it and the panel's text, save
// screenshots, and report. The Go side (../browser_test.go) judges.

const fs = require("node:fs")
const path = require("node:path")
const { chromium } = require("playwright-core")

// The flags that work on this machine (see issue 7). Playwright adds its
// own automation flags and a fresh --user-data-dir: it makes an empty
// profile directory with mkdtemp under os.tmpdir() (the Go test points
// TMPDIR at a per-test temporary directory) and deletes it on close.
// Playwright refuses --user-data-dir in args for launch(); a persistent
// context would allow only one browser context, and the chat scenario needs
// two.
const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
]

// WAIT_MS bounds each wait for the page to reach a state: generous, for a
// loaded machine (only a failure waits that long).
const WAIT_MS = 45_000

class Harness {
  constructor({ base, shotsDir, shotPrefix, executablePath }) {
    this.base = base
    this.shotsDir = shotsDir
    this.shotPrefix = shotPrefix
    this.executablePath = executablePath
    this.browser = null
    this.screenshots = []
    this.console = [] // page console errors and page errors
    this.pages = []
  }

  async launch() {
    this.browser = await chromium.launch({
      executablePath: this.executablePath,
      headless: true,
      args: CHROMIUM_FLAGS,
      timeout: 60_000,
    })
    return this.browser
  }

  // open loads the demo page (with a query string) in a new browser context
  // and waits until the page has loaded phoenix.js.
  async open(name, query = "") {
    // ignoreHTTPSErrors: the https tests use a throwaway self-signed certificate.
    const context = await this.browser.newContext({ viewport: { width: 1200, height: 900 }, ignoreHTTPSErrors: true })
    const page = await context.newPage()
    page.setDefaultTimeout(WAIT_MS)
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") this.console.push(`${name} console.${m.type()}: ${m.text()}`)
    })
    page.on("pageerror", (e) => this.console.push(`${name} pageerror: ${e.message}`))
    await page.goto(this.base + "/" + (query ? "?" + query : ""))
    await page.waitForFunction(() => window.phxDemo && window.phxDemo.ready)
    await page.evaluate(installSnapshot)
    const loadError = await page.evaluate(() => window.phxDemo.loadError)
    if (loadError) throw new Error(`${name}: the page could not load phoenix.js: ${loadError}`)
    page.phxName = name
    this.pages.push(page)
    return page
  }

  // shot saves a full-page screenshot as <shotPrefix>-<label>.png.
  async shot(page, label) {
    if (!this.shotsDir) return
    fs.mkdirSync(this.shotsDir, { recursive: true })
    const file = path.join(this.shotsDir, `${this.shotPrefix}-${label}.png`)
    await page.screenshot({ path: file, fullPage: true })
    this.screenshots.push(file)
  }

  async close() {
    if (this.browser) await this.browser.close().catch(() => {})
  }
}

// installSnapshot defines window.__phxSnapshot in the page: what the page
// observed plus what its panel shows, read in one go. Scenarios call it from
// inside a waitForFunction predicate (waitSnapshot), so that the snapshot
// is of the very moment the awaited state holds, however loaded the machine.
function installSnapshot() {
  window.__phxSnapshot = () => {
    const d = window.phxDemo
    const text = (id) => document.getElementById(id).textContent.trim()
    return {
      state: d.state,
      transport: d.transport,
      action: d.action,
      opens: d.opens,
      closes: d.closes,
      connectErrors: d.connectErrors,
      errors: d.errors.length,
      retries: d.retries,
      joins: d.joins,
      messages: d.messages,
      online: d.online,
      log: d.log.map((l) => `+${l.t}ms ${l.kind} ${l.text}`),
      panel: {
        socketState: text("socket-state"),
        transport: text("transport-name"),
        client: text("client-action"),
        lastClose: text("last-close"),
        connectError: text("connect-error"),
        log: text("log"),
      },
    }
  }
}

// snapshot is what a page observed plus what its panel shows, now.
async function snapshot(page) {
  return page.evaluate(() => window.__phxSnapshot())
}

// waitSnapshot waits until fn(arg), evaluated in the page, returns a
// snapshot (fn returns false until its condition holds, then
// window.__phxSnapshot()), and returns that snapshot.
async function waitSnapshot(page, what, fn, arg, timeout = WAIT_MS) {
  let handle
  try {
    handle = await page.waitForFunction(fn, arg, { timeout, polling: 50 })
  } catch (err) {
    const e = new Error(`${page.phxName || "page"}: timed out waiting for ${what} (${timeout} ms)`)
    e.partial = await snapshot(page).catch(() => null)
    throw e
  }
  try {
    return await handle.jsonValue()
  } finally {
    await handle.dispose()
  }
}

// waitFor polls fn(arg) in the page until it returns true.
async function waitFor(page, what, fn, arg, timeout = WAIT_MS) {
  try {
    await page.waitForFunction(fn, arg, { timeout, polling: 50 })
  } catch (err) {
    const snap = await snapshot(page).catch(() => null)
    const e = new Error(`${page.phxName || "page"}: timed out waiting for ${what} (${timeout} ms)`)
    e.partial = snap
    throw e
  }
}

// connectAs fills the form the way a person does and submits it with the
// keyboard (Enter) or the Connect button.
async function connectAs(page, { user, room, keyboard = false }) {
  await page.fill("#user", user)
  await page.fill("#room", room)
  if (keyboard) {
    await page.focus("#room")
    await page.keyboard.press("Enter")
  } else {
    await page.click("#connect")
  }
}

async function waitJoined(page, topic) {
  await waitFor(page, `join ${topic}`, (t) => window.phxDemo.joins.some((j) => j.topic === t && j.status === "ok"), topic)
}

async function waitOnline(page, users) {
  await waitFor(page, `presence of ${users.join(", ")}`,
    (us) => us.every((u) => window.phxDemo.online.some((p) => p.user === u)), users)
}

async function sendMessage(page, body) {
  await page.fill("#message", body)
  await page.press("#message", "Enter")
}

async function waitMessage(page, user, body) {
  await waitFor(page, `message ${JSON.stringify(body)} from ${user}`,
    ([u, b]) => window.phxDemo.messages.some((m) => m.user === u && m.body === b), [user, body])
}

// observe lets ms pass: an observation window in which the page must NOT do
// something (reconnect, retry), judged afterwards on its snapshot. Never a
// wait for something to happen: use waitFor or waitSnapshot for that.
const observe = (ms) => new Promise((r) => setTimeout(r, ms))

module.exports = {
  Harness, snapshot, waitSnapshot, waitFor, connectAs, waitJoined, waitOnline, sendMessage, waitMessage, observe,
  CHROMIUM_FLAGS, WAIT_MS,
}
