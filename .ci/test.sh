#!/usr/bin/env bash
# Runs the unit suite (tests/*_test.ts) on every runtime: Deno, Bun, Node 24
# and Node 22. Prints each runtime's counts; exits non-zero if any fails.
# Usage: bash .ci/test.sh [test files...]   (default: tests/*_test.ts)
set -uo pipefail
cd "$(dirname "$0")/.."
bin=node_modules/.bin
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(tests/*_test.ts)
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
status=0
total_pass=0
total_fail=0
summary=()

last_number() { # log regex: the number in the last match, or 0
  local n
  n=$(grep -aoE "$2" "$1" | tail -1 | grep -oE '[0-9]+' | head -1)
  echo "${n:-0}"
}

run() { # name pass-regex fail-regex skip-regex command...
  local name=$1 pass_re=$2 fail_re=$3 skip_re=$4
  shift 4
  local log="$logs/$name.log"
  echo "::: $name: $*"
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local pass fail skip
  pass=$(last_number "$log" "$pass_re")
  fail=$(last_number "$log" "$fail_re")
  skip=$(last_number "$log" "$skip_re")
  # A runner that crashed before reporting counts as a failure too.
  if [ "$rc" -ne 0 ] || [ "$pass" -eq 0 ]; then status=1; fi
  if [ "$name" = deno ]; then
    # Deno counts a test that calls t.skip() as passed, with no reason shown;
    # tests/_skip.ts's skipTest() also prints "SKIP <test>: <reason>" for it.
    local skipped_inside
    skipped_inside=$(grep -ac '^SKIP ' "$log")
    pass=$((pass - skipped_inside))
    skip=$((skip + skipped_inside))
  fi
  total_pass=$((total_pass + pass))
  total_fail=$((total_fail + fail))
  summary+=("$(printf '%-7s %4s passed, %s failed, %s skipped (exit %s)' "$name" "$pass" "$fail" "$skip" "$rc")")
}

run deno '[0-9]+ passed' '[0-9]+ failed' '[0-9]+ ignored' \
  "$bin/deno" test -A --no-check "${files[@]}"
run bun '^ *[0-9]+ pass' '^ *[0-9]+ fail' '^ *[0-9]+ skip' \
  "$bin/bun" test --timeout=120000 "${files[@]/#/./}"
run node24 'pass [0-9]+' 'fail [0-9]+' 'skipped [0-9]+' \
  node_modules/node/bin/node --test "${files[@]}"
run node22 'pass [0-9]+' 'fail [0-9]+' 'skipped [0-9]+' \
  node_modules/node22/bin/node --test "${files[@]}"

echo
echo "Per runtime:"
printf '  %s\n' "${summary[@]}"
echo "total: $total_pass passed, $total_fail failed"
if [ "$status" -ne 0 ]; then
  echo "FAILED: at least one runtime's suite failed" >&2
  exit 1
fi
