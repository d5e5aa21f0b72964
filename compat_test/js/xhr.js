"use strict"
// A minimal XMLHttpRequest for Node, over fetch, so that phoenix.js 1.7's
// LongPoll transport (which only knows XMLHttpRequest) can run in Node the
// way `ws` lets its WebSocket transport run. phoenix.js 1.8 uses fetch by
// itself when XMLHttpRequest is missing, so this is installed for 1.7 only.
//
// Covered: open, setRequestHeader, send, abort, timeout/ontimeout, onerror,
// onreadystatechange with readyState 4, status, responseText. An aborted
// request reports nothing (phoenix.js only aborts when closing).

class XMLHttpRequest {
  constructor() {
    this.readyState = 0
    this.status = 0
    this.responseText = ""
    this.timeout = 0
    this.onreadystatechange = null
    this.onerror = null
    this.ontimeout = null
    this._headers = {}
    this._controller = null
    this._aborted = false
  }

  open(method, url) {
    this._method = method
    this._url = url
    this.readyState = 1
  }

  setRequestHeader(name, value) {
    this._headers[name] = value
  }

  abort() {
    this._aborted = true
    if (this._controller) this._controller.abort()
  }

  send(body) {
    this._controller = new AbortController()
    let timedOut = false
    const timer =
      this.timeout > 0
        ? setTimeout(() => {
            timedOut = true
            this._controller.abort()
          }, this.timeout)
        : null
    const init = { method: this._method, headers: this._headers, signal: this._controller.signal }
    if (body !== undefined && body !== null) init.body = body
    fetch(this._url, init)
      .then(async (res) => {
        this.status = res.status
        this.responseText = await res.text()
        clearTimeout(timer)
        this.readyState = 4
        if (this.onreadystatechange) this.onreadystatechange()
      })
      .catch(() => {
        clearTimeout(timer)
        if (timedOut) {
          if (this.ontimeout) this.ontimeout()
        } else if (!this._aborted) {
          if (this.onerror) this.onerror()
        }
      })
  }
}

module.exports = { XMLHttpRequest }
