"use strict"
// Runs one browser scenario against a running phxd and prints one JSON
// object: {scenario, result} or {scenario, error, partial}, plus the
// screenshots saved and the page's console errors.
//
//   PHX_BASE=http://127.0.0.1:4000 PHX_ARGS='{"alice":"a","bob":"b","room":"x"}' \
//     node browser/run.js chat
//
// Environment: PHX_BASE (phxd's HTTP address), PHX_ARGS (JSON scenario
// arguments), PHX_SHOTS (screenshot directory; none when empty),
// PHX_SHOT_PREFIX (screenshot file name prefix; default the scenario),
// PHX_CHROMIUM (default /usr/bin/chromium), PHX_TIMEOUT_MS (whole run).

const fs = require("node:fs")
const { Harness } = require("./harness")
const scenarios = require("./scenarios")

async function main() {
  const name = process.argv[2]
  const out = { scenario: name, screenshots: [], console: [] }
  const scenario = scenarios[name]
  if (!scenario) {
    out.error = `unknown scenario ${JSON.stringify(name)}; known: ${Object.keys(scenarios).join(", ")}`
    return out
  }
  const executablePath = process.env.PHX_CHROMIUM || "/usr/bin/chromium"
  if (!fs.existsSync(executablePath)) {
    out.error = `${executablePath} is missing: install Debian's chromium package (apt-get install -y chromium)`
    return out
  }
  const h = new Harness({
    base: process.env.PHX_BASE || "http://127.0.0.1:4000",
    shotsDir: process.env.PHX_SHOTS || "",
    shotPrefix: process.env.PHX_SHOT_PREFIX || name,
    executablePath,
  })
  const timeoutMs = Number(process.env.PHX_TIMEOUT_MS || 90_000)
  let timer
  try {
    await h.launch()
    const args = JSON.parse(process.env.PHX_ARGS || "{}")
    out.result = await Promise.race([
      scenario(h, args),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`scenario timed out after ${timeoutMs} ms`)), timeoutMs) }),
    ])
  } catch (err) {
    out.error = String(err && err.stack || err)
    if (err && err.partial) out.partial = err.partial
    // A screenshot of every page as it was when it failed.
    for (const p of h.pages) {
      try { await h.shot(p, `failed-${p.phxName}`) } catch { /* the page may be gone */ }
    }
  } finally {
    clearTimeout(timer)
    out.screenshots = h.screenshots
    out.console = h.console
    await h.close()
  }
  return out
}

main().then(
  (out) => { process.stdout.write(JSON.stringify(out) + "\n"); process.exit(0) },
  (err) => { process.stdout.write(JSON.stringify({ error: String(err && err.stack || err) }) + "\n"); process.exit(1) },
)
