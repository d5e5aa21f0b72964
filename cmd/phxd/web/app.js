// phxgo demo page: a chat room with presence, and a panel that shows what
// the server says when it refuses a connection. Plain ES module, no build
// step; phoenix.js is the unmodified npm package, served by phxd from disk.
//
// URL options (each also settable in the form):
//   ?user=alice&room=lobby      prefill the form (room= empty: join nothing)
//   ?transport=websocket|longpoll|fallback, ?longPollFallbackMs=500
//   ?ws=broken                  refuse the WebSocket upgrade (LongPoll fallback demo)
//   ?pattern=off                a plain phoenix.js socket: no onClose handling
//   ?connect=1                  connect on load

const $ = (id) => document.getElementById(id)
const params = new URLSearchParams(location.search)
const LOG_MAX = 200

// window.phxDemo is what the page observed, for people (devtools) and for
// the browser tests.
const demo = (window.phxDemo = {
  ready: false,
  loadError: null,
  state: "idle", // idle | connecting | open | closing | closed
  transport: null, // "WebSocket" or "LongPoll" of the current connection
  action: "",
  opens: [], // {t, transport}
  closes: [], // {t, code, reason, wasClean, transport, connectError}
  connectErrors: [], // phx_connect_error payloads
  errors: [], // socket.onError calls
  retries: [], // {t, ms}: reconnects the page scheduled itself
  joins: [], // {t, topic, status, response}
  messages: [], // new_msg payloads
  online: [], // [{user, connections, status}]
  log: [],
})

const t0 = performance.now()
const now = () => Math.round(performance.now() - t0)

// ---- the event log --------------------------------------------------------

function log(kind, text) {
  demo.log.push({ t: now(), kind, text })
  const li = document.createElement("li")
  li.className = "log-" + kind
  const time = document.createElement("time")
  time.textContent = new Date().toLocaleTimeString([], { hour12: false }) + "." +
    String(Date.now() % 1000).padStart(3, "0")
  const k = document.createElement("span")
  k.className = "kind"
  k.textContent = kind
  li.append(time, " ", k, " ", text)
  const ol = $("log")
  ol.append(li)
  while (ol.children.length > LOG_MAX) ol.firstElementChild.remove()
  ol.scrollTop = ol.scrollHeight
}

function setAction(text) {
  demo.action = text
  $("client-action").textContent = text || "—"
}

function showNotice(html) {
  const n = $("notice")
  n.innerHTML = html
  n.hidden = false
}

// ---- loading phoenix.js -----------------------------------------------------

let Phoenix = null
try {
  Phoenix = await import("/assets/phoenix.mjs")
  $("phx-version").textContent = "loaded from /assets/phoenix.mjs"
} catch (err) {
  demo.loadError = String(err)
  $("phx-version").textContent = "not loaded"
  showNotice(
    "<strong>phoenix.js could not be loaded</strong> from <code>/assets/phoenix.mjs</code>. " +
    "Install it with <code>cd compat_test &amp;&amp; npm ci</code> in the phxgo repository " +
    "(or start phxd with <code>-phoenix-js PATH</code>), then reload this page.")
  for (const b of document.querySelectorAll("#connect-card button")) b.disabled = true
  // phxd's 404 says exactly which file it looked for and the command that
  // installs it in this checkout.
  try {
    const res = await fetch("/assets/phoenix.mjs", {cache: "no-store"})
    if (res.status === 404) {
      const pre = document.createElement("pre")
      pre.textContent = await res.text()
      $("notice").append(pre)
    }
  } catch (_) { /* the notice above stands alone */ }
}

// ---- the form ---------------------------------------------------------------

function applyURLOptions() {
  if (params.has("user")) $("user").value = params.get("user")
  if (params.has("room")) $("room").value = params.get("room")
  let transport = params.get("transport")
  if (params.has("longPollFallbackMs")) {
    transport = "fallback"
    $("fallback-ms").value = params.get("longPollFallbackMs")
  }
  if (transport) {
    const radio = document.querySelector(`input[name=transport][value="${CSS.escape(transport)}"]`)
    if (radio) radio.checked = true
  }
  if (params.get("ws") === "broken") $("ws-broken").checked = true
  if (params.get("pattern") === "off") $("pattern").checked = false
}

function formOptions() {
  return {
    room: $("room").value.trim(),
    transport: document.querySelector("input[name=transport]:checked").value,
    fallbackMs: Number($("fallback-ms").value) || 2500,
    wsBroken: $("ws-broken").checked,
    pattern: $("pattern").checked,
  }
}

const USER_ID = /^[a-z0-9_]{1,32}$/

function validUser() {
  const input = $("user")
  const name = input.value.trim()
  const ok = USER_ID.test(name)
  input.setAttribute("aria-invalid", String(!ok))
  $("user-error").textContent = ok ? "" :
    "Enter 1 to 32 lowercase letters, digits or underscores."
  if (!ok) input.focus()
  return ok ? name : null
}

// A WebSocket that a (simulated) proxy refuses: the upgrade goes to a path
// the server answers with 404, so the browser reports a failed connect.
class RefusedWebSocket extends WebSocket {
  constructor(url, protocols) {
    super(String(url).replace("/socket/websocket", "/socket/websocket-refused-by-proxy"), protocols)
  }
}

// ---- the socket ---------------------------------------------------------------

// session is the current socket and what belongs to it. Callbacks of an
// older session are ignored.
let session = null

function transportName(sock) {
  if (sock.transport === Phoenix.LongPoll) return "LongPoll"
  return sock.transport === RefusedWebSocket ? "WebSocket (refused by the simulated proxy)" : "WebSocket"
}

function connect(token, opts, label, user = null) {
  stop(false)
  clearChat()
  const sockOpts = {
    params: { token },
    // phoenix.js's transport messages (connects, fallback decisions) go to
    // the log; its bare "error" and "close" are logged by the callbacks.
    logger: (kind, msg) => {
      if (kind === "transport" && msg !== "error" && msg !== "close") log("transport", msg)
    },
  }
  if (opts.transport === "longpoll") {
    sockOpts.transport = Phoenix.LongPoll
  } else {
    if (opts.wsBroken) sockOpts.transport = RefusedWebSocket
    if (opts.transport === "fallback") sockOpts.longPollFallbackMs = opts.fallbackMs
  }
  const sock = new Phoenix.Socket("/socket", sockOpts)
  const s = { socket: sock, token, user, pattern: opts.pattern, connectError: null, retryTimer: null, retryAt: 0, channel: null }
  session = s
  const current = () => session === s

  sock.onOpen(() => {
    if (!current()) return
    s.connectError = null
    demo.opens.push({ t: now(), transport: transportName(sock) })
    renderCounts()
    log("open", `connected via ${transportName(sock)}`)
  })

  sock.onError((err) => {
    if (!current()) return
    const what = typeof err === "object" && err !== null ? (err.type || "error event") : String(err)
    demo.errors.push({ t: now(), error: what })
    log("error", `transport error (${what}); the browser does not say why`)
  })

  // The recommended client pattern, part 1: remember the server's reason.
  sock.onMessage((m) => {
    if (!current()) return
    if (m.topic === "phoenix" && m.event === "phx_connect_error") {
      s.connectError = m.payload
      demo.connectErrors.push(m.payload)
      renderCounts()
      $("connect-error").textContent = JSON.stringify(m.payload)
      $("connect-error").classList.add("bad")
      log("connect_error", "phx_connect_error " + JSON.stringify(m.payload))
    }
  })

  // The recommended client pattern, part 2: act on the close code.
  sock.onClose((e) => {
    if (!current()) return
    const err = s.connectError
    s.connectError = null
    const close = { t: now(), code: e.code, reason: e.reason || "", wasClean: !!e.wasClean,
      transport: transportName(sock), connectError: err }
    demo.closes.push(close)
    renderCounts()
    $("last-close").textContent = `${e.code}${e.reason ? " " + e.reason : ""}` +
      (e.wasClean ? "" : " (not clean)") + (e.code === 1006 ? " — the browser hides why" : "")
    log("close", `close ${e.code}${e.reason ? ` "${e.reason}"` : ""}` +
      (e.code === 1006 ? " (abnormal: the upgrade failed or the connection dropped)" : ""))
    if (s.userClosed) return
    if (!s.pattern) {
      setAction("plain phoenix.js: it reconnects on its own backoff")
      return
    }
    // LongPoll cannot carry the server's close code (phoenix.js reports
    // 1008 "forbidden"): decide on the phx_connect_error payload instead.
    let code = e.code
    if (code < 4000 && err) code = err.retry_after_ms != null ? 4503 : 4401
    if (code === 4401 || code === 4403 || code === 4408) {
      // Bad or expired credentials (or, 4408, a socket that joined nothing
      // in time): retrying unchanged is pointless. Stop and tell the user.
      sock.disconnect()
      setAction(`stopped reconnecting: ${err?.reason || e.reason || "refused"}` +
        (code === 4408 ? " (joined no channel in time)" : " — sign in again"))
      log("client", "socket.disconnect(): not retrying")
    } else if (code === 4503 || code === 4429) {
      // Overloaded or rate limited: come back when the server says.
      sock.disconnect()
      const ms = err?.retry_after_ms ?? 5000
      demo.retries.push({ t: now(), ms })
      s.retryAt = performance.now() + ms
      s.retryTimer = setTimeout(() => {
        if (!current()) return
        s.retryTimer = null
        log("client", "retrying now")
        sock.connect()
      }, ms)
      log("client", `socket.disconnect(); retrying in ${ms} ms (retry_after_ms)`)
    } else {
      setAction("phoenix.js reconnects with its backoff")
    }
  })

  demo.transport = transportName(sock)
  log("client", `${label}: connecting via ${transportName(sock)}` +
    (sockOpts.longPollFallbackMs ? ` (LongPoll fallback after ${sockOpts.longPollFallbackMs} ms)` : "") +
    (s.pattern ? "" : " without the recommended pattern"))
  setAction(label)
  sock.connect()
  if (opts.room) join(s, "room:" + opts.room)
  render()
}

// stop disconnects the current session, if any.
function stop(byUser) {
  const s = session
  if (!s) return
  s.userClosed = true
  clearTimeout(s.retryTimer)
  s.retryTimer = null
  s.socket.disconnect()
  if (byUser) {
    log("client", "disconnected by you")
    setAction("disconnected by you")
  }
  setChatEnabled(false)
  render()
}

// ---- the room channel ----------------------------------------------------------

function join(s, topic) {
  const ch = s.socket.channel(topic, {})
  s.channel = ch
  $("room-name").textContent = topic
  const presence = new Phoenix.Presence(ch)
  presence.onSync(() => { if (session === s) renderOnline(presence) })
  ch.on("new_msg", (p) => { if (session === s) addMessage(p) })
  ch.onError((reason) => {
    if (session !== s) return
    setChatEnabled(false)
    log("channel", `${topic} errored ${reason ? JSON.stringify(reason) : ""}`)
  })
  ch.onClose(() => { if (session === s) setChatEnabled(false) })
  ch.join()
    .receive("ok", (resp) => {
      if (session !== s) return
      demo.joins.push({ t: now(), topic, status: "ok", response: resp })
      log("channel", `joined ${topic}`)
      setChatEnabled(true)
    })
    .receive("error", (resp) => {
      if (session !== s) return
      demo.joins.push({ t: now(), topic, status: "error", response: resp })
      log("channel", `join ${topic} refused: ${JSON.stringify(resp)}`)
      ch.leave() // phoenix.js would otherwise rejoin forever
    })
    .receive("timeout", () => { if (session === s) log("channel", `join ${topic} timed out; phoenix.js retries`) })
}

function setChatEnabled(on) {
  for (const id of ["message", "send", "status", "set-status"]) $(id).disabled = !on
}

function clearChat() {
  $("messages").replaceChildren()
  $("online").replaceChildren()
  $("online-count").textContent = ""
  $("room-name").textContent = ""
  $("connect-error").textContent = "—"
  $("connect-error").classList.remove("bad")
  $("last-close").textContent = "—"
  demo.online = []
  setChatEnabled(false)
}

function renderCounts() {
  const n = demo.closes.length
  const r = demo.connectErrors.length
  $("close-count").textContent = `${n} ${n === 1 ? "close" : "closes"}, ` +
    `${r} with phx_connect_error (${demo.opens.length} opened)`
}

function addMessage(p) {
  demo.messages.push(p)
  const li = document.createElement("li")
  const who = document.createElement("strong")
  who.textContent = p.user
  li.append(who, ": ", String(p.body))
  if (session && p.user === session.user) li.className = "mine"
  $("messages").append(li)
  li.scrollIntoView({ block: "nearest" })
}

function renderOnline(presence) {
  const list = presence.list((user, { metas }) => ({
    user,
    connections: metas.length,
    status: metas.map((m) => m.status).filter(Boolean).at(-1) ?? null,
  }))
  list.sort((a, b) => a.user.localeCompare(b.user))
  demo.online = list
  const ul = $("online")
  ul.replaceChildren(...list.map((p) => {
    const li = document.createElement("li")
    const name = document.createElement("span")
    name.className = "name"
    name.textContent = p.user + (session && p.user === session.user ? " (you)" : "")
    li.append(name)
    if (p.status) {
      const st = document.createElement("span")
      st.className = "status"
      st.textContent = p.status
      li.append(" ", st)
    }
    if (p.connections > 1) li.append(` · ${p.connections} connections`)
    return li
  }))
  $("online-count").textContent = `(${list.length})`
}

// ---- the state line, refreshed a few times a second --------------------------

function render() {
  const el = $("socket-state")
  let state = "idle"
  let text = "not connected"
  if (session) {
    state = session.socket.connectionState()
    text = state
    if (session.retryTimer) {
      const left = Math.max(0, session.retryAt - performance.now())
      text = `closed — retrying in ${(left / 1000).toFixed(1)} s`
      state = "waiting"
    }
    demo.transport = transportName(session.socket)
    $("transport-name").textContent = `· ${demo.transport}`
  } else {
    $("transport-name").textContent = ""
  }
  demo.state = state
  el.dataset.state = state
  if (el.textContent !== text) el.textContent = text
}

// ---- wiring ------------------------------------------------------------------

$("connect-form").addEventListener("submit", (ev) => {
  ev.preventDefault()
  const user = validUser()
  if (!user) return
  connect("user:" + user, formOptions(), `connect as ${user}`, user)
})

$("disconnect").addEventListener("click", () => stop(true))

for (const b of document.querySelectorAll("button.reject")) {
  b.addEventListener("click", () => connect(b.dataset.token, formOptions(), `connect with token "${b.dataset.token}"`))
}

$("message-form").addEventListener("submit", (ev) => {
  ev.preventDefault()
  const input = $("message")
  const body = input.value.trim()
  if (!body || !session?.channel) return
  session.channel.push("new_msg", { body })
    .receive("ok", () => { input.value = "" })
    .receive("error", (r) => log("channel", "new_msg refused " + JSON.stringify(r)))
    .receive("timeout", () => log("channel", "new_msg: no reply"))
})

$("status-form").addEventListener("submit", (ev) => {
  ev.preventDefault()
  const status = $("status").value.trim()
  if (!session?.channel) return
  session.channel.push("set_status", { status })
    .receive("ok", () => log("channel", `status set to "${status}"`))
    .receive("error", (r) => log("channel", "set_status refused " + JSON.stringify(r)))
})

applyURLOptions()
if (Phoenix) {
  setInterval(render, 200)
  render()
  demo.ready = true
  if (params.get("connect") === "1") $("connect-form").requestSubmit()
} else {
  demo.ready = true
}
