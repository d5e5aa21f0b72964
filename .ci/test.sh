#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need
# (Node packages for the phoenix.js compatibility tests), then gofmt, go vet
# and every Go test with the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*"; }

apt_install() {
  log "installing Debian packages: $*"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

missing=()
command -v go >/dev/null 2>&1 || { echo "go is required (Go 1.26): not on PATH" >&2; exit 1; }
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
# Browser tests (compat_test/browser_test.go): headless Chromium from Debian.
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi

log "npm ci (compat_test: phoenix.js 1.8.16 and 1.7.23, ws, playwright-core)"
(cd compat_test && npm ci --no-audit --no-fund --loglevel=error)

# Scale tests hold thousands of sockets: use the whole file limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

log "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path '*/node_modules/*'))
if [ -n "$unformatted" ]; then echo "gofmt would change: $unformatted" >&2; exit 1; fi

log "go vet"
go vet ./...

log "go test -race -shuffle=on"
go test -race -shuffle=on -count=1 -timeout 20m ./...
