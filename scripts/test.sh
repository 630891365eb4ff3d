#!/usr/bin/env bash
# The whole test suite: typecheck, lint, then every vitest suite (unit, policy fixtures,
# identity against loopback issuers, end-to-end against real broker processes, attacks).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ]; then
  echo "node_modules is missing: run 'npm ci' first (README: npm ci && npm test)" >&2
  exit 1
fi

# Storage tests run against a real redis-server that the tests start on 127.0.0.1.
if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing redis-server (Debian package)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    # The package starts a system service; the tests start their own servers.
    (service redis-server stop || systemctl stop redis-server) >/dev/null 2>&1 || true
  else
    echo "redis-server is required by the tests: install it with 'sudo apt-get install -y redis-server'" >&2
    echo "(or 'brew install redis' on macOS), then run 'npm test' again." >&2
    exit 1
  fi
fi

# test/e2e/compose-first-start.test.ts runs the real HAProxy on deploy/haproxy.cfg.
if ! command -v haproxy >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing haproxy (Debian package)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null
    # The package starts a system service; the test starts its own.
    (service haproxy stop || systemctl stop haproxy) >/dev/null 2>&1 || true
  else
    echo "haproxy is required by the tests: install it with 'sudo apt-get install -y haproxy'" >&2
    echo "(or 'brew install haproxy' on macOS), then run 'npm test' again." >&2
    exit 1
  fi
fi

# The PKCS#11 tests (test/pkcs11/, test/e2e/pkcs11-*) initialise real SoftHSM2 tokens in temp dirs.
if ! command -v softhsm2-util >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing softhsm2 (Debian package)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq softhsm2 >/dev/null
  else
    echo "softhsm2 is required by the tests: install it with 'sudo apt-get install -y softhsm2'" >&2
    echo "(or 'brew install softhsm' on macOS, with SOFTHSM2_MODULE set to its libsofthsm2.so), then run 'npm test' again." >&2
    exit 1
  fi
fi

echo "== typecheck"
npx tsc -p tsconfig.json --noEmit
echo "== lint"
npx eslint .
echo "== tests"
report=$(mktemp)
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
# One plain closing line, counted from vitest's own JSON report.
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$report" || true
rm -f "$report"
exit "$status"
