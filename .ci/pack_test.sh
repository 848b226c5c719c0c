#!/usr/bin/env bash
# The JavaScript build, as a Node user gets it: `npm pack` (which builds
# dist/ with `npm run build`), then `npm install` of the tarball into a fresh
# directory, then the library, the compat entry points and the `atomic-write`
# bin are used from Node 22, Node 24 and Bun (the write-file-atomic entry
# point also through require(), as its CommonJS users call it), and the
# consumer's TypeScript is checked against the installed .d.ts files. Needs no network (the
# package has no dependencies). Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
node24=$repo/node_modules/node/bin/node
node22=$repo/node_modules/node22/bin/node
# The oldest Node that package.json's engines allow: no import.meta.main yet
# (the bin must still run), require() of ES modules just on by default.
node2212=$repo/node_modules/node2212/bin/node
bun=$repo/node_modules/.bin/bun
# npm's own shebang runs it on the first `node` in PATH: make that Node 24.
export PATH="$(dirname "$node24"):$PATH"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "::: npm pack (runs npm run build)"
tarball=$(npm pack --silent --pack-destination "$work" | tail -1)
echo "    $tarball: $(tar -tzf "$work/$tarball" | wc -l) files"
if tar -tzf "$work/$tarball" | grep -E '\.ts$' | grep -vqE '\.d\.ts$'; then
  echo "the tarball holds TypeScript sources besides .d.ts files" >&2
  exit 1
fi

echo "::: npm install the tarball into a fresh directory"
app=$work/app
mkdir "$app"
printf '{ "name": "consumer", "private": true, "type": "module" }\n' >"$app/package.json"
(cd "$app" && npm install --no-audit --no-fund --offline "$work/$tarball" >/dev/null)
cp tests/pack/consumer.mjs tests/pack/consumer.cjs tests/pack/consumer_types.ts "$app/"

for runtime in node2212 node22 node24 bun; do
  case $runtime in
    node2212) exe=$node2212 ;;
    node22) exe=$node22 ;;
    node24) exe=$node24 ;;
    bun) exe=$bun ;;
  esac
  echo "::: $runtime: the library and the compat entry points"
  (cd "$app" && "$exe" consumer.mjs)
  echo "::: $runtime: require() of the write-file-atomic entry point"
  (cd "$app" && "$exe" consumer.cjs)
  echo "::: $runtime: the atomic-write bin"
  out=$app/from-bin.txt
  printf 'piped in\n' | (cd "$app" && PATH="$(dirname "$exe"):$PATH" "$exe" node_modules/.bin/atomic-write "$out")
  [ "$(cat "$out")" = "piped in" ] || { echo "atomic-write wrote: $(cat "$out")" >&2; exit 1; }
  rm "$out"
done

for exe in "$node2212" "$node22"; do
  echo "::: node $("$exe" --version): the bin runs by its shebang through npm's link"
  printf 'by shebang\n' | (cd "$app" && PATH="$(dirname "$exe"):$PATH" ./node_modules/.bin/atomic-write by-shebang.txt)
  [ "$(cat "$app/by-shebang.txt")" = "by shebang" ]
  rm "$app/by-shebang.txt"
  # A bad option must fail, not pass silently as a program that never ran;
  # also when run as `node …/dist/cli`, without the extension.
  if (cd "$app" && PATH="$(dirname "$exe"):$PATH" ./node_modules/.bin/atomic-write --bogus 2>/dev/null); then
    echo "atomic-write --bogus exited 0 on $("$exe" --version)" >&2
    exit 1
  fi
  if (cd "$app" && "$exe" node_modules/@x/atomic/dist/cli --bogus 2>/dev/null); then
    echo "node dist/cli --bogus exited 0 on $("$exe" --version)" >&2
    exit 1
  fi
done

echo "::: tsc: the consumer's TypeScript against the installed .d.ts"
# With the lib of the build's own target (ES2022): the declarations must not
# need a newer one (ES2024's PromiseWithResolvers once leaked into them).
cat >"$app/tsconfig.json" <<JSON
{
  "compilerOptions": {
    "target": "ES2022",
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "strict": true,
    "noEmit": true,
    "skipLibCheck": false,
    "lib": ["ES2022", "ESNext.Disposable"],
    "typeRoots": ["$repo/node_modules/@types"],
    "types": ["node"]
  },
  "files": ["consumer_types.ts"]
}
JSON
(cd "$app" && "$node24" "$repo/node_modules/typescript/bin/tsc" -p tsconfig.json)
# TypeScript before 5.6 cannot parse a string as an export's name: the
# write-file-atomic entry point gives it declarations without one.
echo "::: tsc $("$node24" "$repo/node_modules/typescript55/bin/tsc" --version): the same, with TypeScript 5.5"
(cd "$app" && "$node24" "$repo/node_modules/typescript55/bin/tsc" -p tsconfig.json)
echo "pack test: ok (Node 22.12, Node 22, Node 24, Bun; bin; types, TypeScript 5.9 and 5.5)"
