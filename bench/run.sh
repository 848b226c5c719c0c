#!/usr/bin/env bash
# Runs the benchmark on Deno, Bun and Node 24 in turn, then the 1 GiB stream
# memory check in a fresh process per runtime, then writes bench/RESULTS.md.
# Usage: bash bench/run.sh [--quick] [--only=<case name part>]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=node_modules/.bin
node=node_modules/node/bin/node
deno=("$bin/deno" run -A bench/bench.ts)
bun=("$bin/bun" bench/bench.ts)
nodejs=("$node" bench/bench.ts)
rm -f bench/.tmp/results-*.json bench/.tmp/memory-*.json
for runtime in deno bun nodejs; do
  declare -n cmd=$runtime
  "${cmd[@]}" "$@"
done
for runtime in deno bun nodejs; do
  declare -n cmd=$runtime
  "${cmd[@]}" --memory "$@"
  "${cmd[@]}" --memory=floor "$@"
done
"$node" bench/bench.ts --report
