#!/usr/bin/env bash
# Provides a PostgreSQL server for the export test (test/export-postgres.test.ts) without changing the system: the
# server of Debian's postgresql-15 package when it is installed, else that package and those of its libraries the
# machine lacks, unpacked with `dpkg -x` into the ignored .cache/postgres/, with wrappers in .cache/postgres/bin that run
# initdb and postgres with those libraries. Only package registries are reachable from CI.
# ECAP_POSTGRES_DOWNLOAD=1 ignores an installed server (to check the download path on a machine that has one).
# Idempotent: a second run finds the server working and does nothing. Prints the folder holding initdb and postgres.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=15
PACKAGE="postgresql-$VERSION"
SYSTEM="/usr/lib/postgresql/$VERSION/bin"
DIR="$PWD/.cache/postgres"

works() { [[ -x "$1/initdb" && -x "$1/postgres" ]] && "$1/postgres" --version >/dev/null 2>&1 && "$1/initdb" --version >/dev/null 2>&1; }

if [[ -z "${ECAP_POSTGRES_DOWNLOAD:-}" ]] && works "$SYSTEM"; then
  echo "$SYSTEM"
  exit 0
fi
if works "$DIR/bin"; then
  echo "$DIR/bin"
  exit 0
fi

command -v apt-get >/dev/null || { echo "install-postgres: apt-get and dpkg are needed (Debian or Ubuntu)" >&2; exit 4; }

installed() { [[ "$1" != "$PACKAGE" ]] && dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }

# The server package and, recursively, the libraries it needs that are not installed (of alternatives, the first).
# Its other dependencies (postgresql-common's cluster scripts, the client, debconf, perl) are not needed to run
# initdb and postgres straight from their folder.
declare -A seen=()
queue=("$PACKAGE")
wanted=()
while ((${#queue[@]} > 0)); do
  pkg="${queue[0]}"
  queue=("${queue[@]:1}")
  [[ -n "${seen[$pkg]:-}" ]] && continue
  seen[$pkg]=1
  installed "$pkg" && continue
  wanted+=("$pkg")
  alternative=0
  while IFS= read -r line; do
    case "$line" in
      *'|Depends: '*) dep="${line#*|Depends: }"; take=$((alternative == 0)); alternative=1 ;;
      *'Depends: '*) dep="${line#*Depends: }"; take=$((alternative == 0)); alternative=0 ;;
      *) continue ;;
    esac
    [[ "$take" == 1 && "$dep" =~ ^(lib|zlib) ]] && queue+=("$dep")
  done < <(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances \
    "$pkg" 2>/dev/null | tail -n +2)
done

rm -rf "$DIR"
mkdir -p "$DIR/debs" "$DIR/root" "$DIR/bin"
download() { (cd "$DIR/debs" && apt-get download -q "${wanted[@]}" >/dev/null 2>"$DIR/apt.log"); }
# Package lists older than the archive name versions no longer served: refresh them once (as root) and retry.
if ! download; then
  [[ "$(id -u)" == 0 ]] && apt-get update -qq >&2 && download || { cat "$DIR/apt.log" >&2; exit 4; }
fi
for deb in "$DIR"/debs/*.deb; do dpkg -x "$deb" "$DIR/root"; done
rm -rf "$DIR/debs"

real="$DIR/root/usr/lib/postgresql/$VERSION/bin"
[[ -x "$real/postgres" ]] || { echo "install-postgres: $PACKAGE could not be downloaded" >&2; exit 4; }
# initdb runs the postgres beside its own binary (not the wrapper), which inherits the library path from initdb's
# wrapper; postgres finds its share/ folder relative to its binary, so the unpacked tree works where it lies.
libs="$DIR/root/usr/lib/x86_64-linux-gnu:$DIR/root/usr/lib"
for tool in initdb postgres pg_ctl; do
  cat >"$DIR/bin/$tool" <<EOF
#!/bin/sh
export LD_LIBRARY_PATH="$libs\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
exec "$real/$tool" "\$@"
EOF
  chmod 755 "$DIR/bin/$tool"
done
works "$DIR/bin" || { echo "install-postgres: $DIR/bin/postgres does not start" >&2; "$DIR/bin/postgres" --version >&2 || true; exit 4; }
echo "$DIR/bin"
