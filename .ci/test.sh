#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need
# (Node packages for the phoenix.js compatibility tests, chromium, escript from
# erlang-base for the mixed-cluster tests, redis-server and
# redis-cli for the Redis tests), then gofmt, go vet,
# every Go test with the race detector, and the allocation and memory tests
# once more without it.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*"; }

# APT_LOCK_WAIT bounds how long apt-get waits for another apt or dpkg (an
# unattended upgrade, a second install) to release its locks, in seconds.
APT_LOCK_WAIT=${APT_LOCK_WAIT:-600}

# apt_get runs apt-get, waiting for the dpkg lock (DPkg::Lock::Timeout) and,
# since `apt-get update` takes the package lists' lock without waiting,
# retrying while another apt holds a lock, up to APT_LOCK_WAIT seconds.
apt_get() {
  local deadline=$((SECONDS + APT_LOCK_WAIT)) out rc
  while :; do
    rc=0
    out=$(apt-get -o DPkg::Lock::Timeout="$APT_LOCK_WAIT" "$@" 2>&1) || rc=$?
    if [ "$rc" -eq 0 ]; then return 0; fi
    if ! grep -qiE 'could not (get|open) lock|unable to (acquire|lock)|is another process using it' <<<"$out"; then
      printf '%s\n' "$out" >&2
      return "$rc"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      printf '%s\n' "$out" >&2
      echo "apt-get $*: another apt or dpkg still holds its lock after ${APT_LOCK_WAIT}s (raise APT_LOCK_WAIT)" >&2
      return "$rc"
    fi
    log "another apt or dpkg holds its lock; waiting (up to ${APT_LOCK_WAIT}s in all)"
    sleep 5
  done
}

apt_install() {
  log "installing Debian packages: $*"
  export DEBIAN_FRONTEND=noninteractive
  apt_get update -qq
  apt_get install -y -qq --no-install-recommends "$@"
}

missing=()
command -v go >/dev/null 2>&1 || { echo "go is required (Go 1.26): not on PATH" >&2; exit 1; }
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
# Browser tests (compat_test/browser_test.go): headless Chromium from Debian.
[ -x /usr/bin/chromium ] || missing+=(chromium)
# Redis tests (phx/phxredis, compat_test's multi-node tests): each starts its
# own private redis-server on free loopback ports (and uses redis-cli to form
# a Redis Cluster); none connects to a system-wide Redis, should the package
# have started one.
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
# Mixed Elixir/Go cluster tests: an Erlang escript stands in for an Elixir node.
command -v escript >/dev/null 2>&1 || missing+=(erlang-base)
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

log "Markdown links"
go run ./.ci/mdlinks

log "go test -race -shuffle=on"
go test -race -shuffle=on -count=1 -timeout 20m ./...

# The race detector distorts allocation and memory figures, so those tests
# skip (or relax their bound) under -race, saying why. Run exactly them once
# more without it. .ci/noracetests.go finds them: the tests whose own body
# refers to raceEnabled or calls skipUnderRace. Each must pass here (not
# skip, not vanish), so a renamed or broken test cannot drop out unnoticed.
log "go test without -race: allocation and memory bounds"
norace=$(go run .ci/noracetests.go)
if [ -z "$norace" ]; then
  echo "no allocation or memory tests found (.ci/noracetests.go); they must run without -race" >&2
  exit 1
fi
while read -r pkg names; do
  rc=0
  out=$(go test -count=1 -timeout 10m -v -run "^(${names})\$" "$pkg" 2>&1) || rc=$?
  failed=()
  for name in ${names//|/ }; do
    grep -q "^--- PASS: ${name} " <<<"$out" || failed+=("$name")
  done
  if [ "$rc" -ne 0 ] || [ ${#failed[@]} -gt 0 ]; then
    printf '%s\n' "$out" >&2
    echo "without -race in $pkg: did not pass: ${failed[*]:-(see above)}" >&2
    exit 1
  fi
  grep -E '^(--- |ok )' <<<"$out"
done <<<"$norace"
