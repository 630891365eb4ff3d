#!/usr/bin/env bash
# The whole test suite: typecheck, lint, then every vitest suite (unit, policy fixtures,
# identity against loopback issuers, end-to-end against real broker processes, attacks).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ]; then
  echo "node_modules is missing: run 'npm ci' first (README: npm ci && npm test)" >&2
  exit 1
fi

echo "== typecheck"
npx tsc -p tsconfig.json --noEmit
echo "== lint"
npx eslint .
echo "== tests"
npx vitest run "$@"
