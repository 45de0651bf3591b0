#!/usr/bin/env bash
# Provides the Trino 476 server that the cross-engine tests, the engine benchmark and `npm run trino:dev` start
# (src/lib/trino/local-trino.ts): the server tarball from Maven Central (tools/trino/pom.xml), of which only bin/, lib/
# and plugin/delta-lake/ are kept, in the ignored .cache/trino/trino-server-476. Only package registries are reachable
# from CI, and 476 is the last release Maven Central publishes whole.
# Trino 476 runs on Java 22 or newer, which is not the machine's default java: the JDK is checked first
# (ECAP_TRINO_JAVA_HOME, else /usr/lib/jvm/temurin-25-jdk-amd64, else a java 22+ on the PATH).
# Idempotent: a marker written last makes a second run instant, and an interrupted run is redone whole.
# Prints the server's folder.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=476
CACHE="$PWD/.cache/trino"
SERVER="$CACHE/trino-server-$VERSION"
MARKER="$SERVER/.ecap-installed"
WANT="trino-server $VERSION: bin lib plugin/delta-lake"
TEMURIN=/usr/lib/jvm/temurin-25-jdk-amd64

fail() { echo "install-trino: $*" >&2; exit 4; }

# The major version of a java executable (`openjdk version "25.0.1"` → 25; the old `"1.8.0"` → 1).
java_major() { "$1" -version 2>&1 | sed -n 's/.* version "\([0-9]*\).*/\1/p' | head -n 1; }

check_java() {
  local java found
  if [[ -n "${ECAP_TRINO_JAVA_HOME:-}" ]]; then
    java="$ECAP_TRINO_JAVA_HOME/bin/java"
    [[ -x "$java" ]] || fail "ECAP_TRINO_JAVA_HOME=$ECAP_TRINO_JAVA_HOME has no bin/java."
  elif [[ -x "$TEMURIN/bin/java" ]]; then
    java="$TEMURIN/bin/java"
  else
    java="$(command -v java || true)"
    [[ -n "$java" ]] || fail "Trino $VERSION needs Java 22 or newer and there is no java. Install a JDK 22+ (e.g. Temurin 25 from Adoptium: apt-get install temurin-25-jdk) and set ECAP_TRINO_JAVA_HOME to its folder."
  fi
  found="$(java_major "$java")"
  if [[ -z "$found" ]] || ((found < 22)); then
    fail "Trino $VERSION needs Java 22 or newer; $java is Java ${found:-of unknown version}. Install a JDK 22+ (e.g. Temurin 25 from Adoptium: apt-get install temurin-25-jdk) and set ECAP_TRINO_JAVA_HOME to its folder."
  fi
}

check_java
if [[ -f "$MARKER" && "$(cat "$MARKER")" == "$WANT" ]]; then
  echo "$SERVER"
  exit 0
fi

command -v mvn >/dev/null || fail "Maven is needed to fetch the Trino server (apt-get install maven)."
mkdir -p "$CACHE"
# Two test files may start Trino at once on a fresh machine: one installs, the other waits and then finds it done.
exec 9>"$CACHE/.install.lock"
flock 9
if [[ -f "$MARKER" && "$(cat "$MARKER")" == "$WANT" ]]; then
  echo "$SERVER"
  exit 0
fi

DOWNLOAD="$CACHE/download"
TARBALL="$DOWNLOAD/trino-server-$VERSION.tar.gz"
STAGING="$CACHE/.extract-$$"
trap 'rm -rf "$STAGING"' EXIT
echo "install-trino: fetching trino-server-$VERSION.tar.gz (about 800 MB) with Maven" >&2
# An absolute output folder: Maven resolves a relative one against the pom's folder.
# Its output is shown only when it fails (quiet Maven still prints colour codes).
if ! mvn -q -B -f tools/trino/pom.xml dependency:copy -DoutputDirectory="$DOWNLOAD" >"$CACHE/maven.log" 2>&1; then
  cat "$CACHE/maven.log" >&2
  fail "Maven could not fetch io.trino:trino-server:$VERSION:tar.gz (its output above)."
fi
rm -f "$CACHE/maven.log"

# Whole: the plugins' jars are hard links to lib/ and to each other, which tar makes only to members it extracted.
rm -rf "$STAGING"
mkdir -p "$STAGING/keep/plugin"
tar -xzf "$TARBALL" -C "$STAGING"
extracted="$STAGING/trino-server-$VERSION"
[[ -d "$extracted/lib" && -d "$extracted/plugin/delta-lake" ]] || fail "$TARBALL holds no lib/ or plugin/delta-lake/."
mv "$extracted/bin" "$extracted/lib" "$STAGING/keep/"
mv "$extracted/plugin/delta-lake" "$STAGING/keep/plugin/"
echo "$WANT" >"$STAGING/keep/.ecap-installed"
# Swap the finished copy in; an older one (without the marker) is moved aside first, as a rename needs the name free.
if [[ -e "$SERVER" ]]; then
  mv "$SERVER" "$STAGING/old"
fi
mv "$STAGING/keep" "$SERVER"
rm -f "$TARBALL"
echo "$SERVER"
