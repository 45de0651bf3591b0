#!/usr/bin/env bash
# Provides a headless Chromium for the HTML report test (test/report.test.ts), without root and without touching the
# system: Debian's chromium-headless-shell package and those of its libraries the machine lacks are unpacked with
# `dpkg -x` into the ignored .cache/chromium/, and .cache/chromium/chromium is a wrapper that runs it with those
# libraries. Playwright's own browser download is not used: only package registries are reachable from CI.
# Idempotent: a second run finds the wrapper working and does nothing. Prints the wrapper's path.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR="$PWD/.cache/chromium"
WRAPPER="$DIR/chromium"
PACKAGE=chromium-headless-shell

works() { [[ -x "$WRAPPER" ]] && "$WRAPPER" --version >/dev/null 2>&1; }

if works; then
  echo "$WRAPPER"
  exit 0
fi

command -v apt-get >/dev/null || { echo "install-chromium: apt-get and dpkg are needed (Debian or Ubuntu)" >&2; exit 4; }

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }

# The package and, recursively, the dependencies that are not installed; of alternatives (a | b) the first, as apt
# would pick it. Virtual packages (<name>) are provided by something installed or by an alternative taken.
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
    [[ "$take" == 1 && "$dep" != '<'* ]] && queue+=("$dep")
  done < <(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances \
    --no-pre-depends "$pkg" 2>/dev/null | tail -n +2)
done
# Fonts, so text in the pages has glyphs to measure (a machine without any font renders nothing).
fc-list 2>/dev/null | grep -q . || wanted+=(fonts-liberation)

rm -rf "$DIR"
mkdir -p "$DIR/debs" "$DIR/root"
download() { (cd "$DIR/debs" && apt-get download -q "${wanted[@]}" >/dev/null 2>"$DIR/apt.log"); }
# Package lists older than the archive name versions no longer served: refresh them once (as root) and retry.
if ! download; then
  [[ "$(id -u)" == 0 ]] && apt-get update -qq >&2 && download || { cat "$DIR/apt.log" >&2; exit 4; }
fi
for deb in "$DIR"/debs/*.deb; do dpkg -x "$deb" "$DIR/root"; done
rm -rf "$DIR/debs"

binary="$DIR/root/usr/lib/chromium/chromium-headless-shell"
[[ -x "$binary" ]] || { echo "install-chromium: $PACKAGE could not be downloaded" >&2; exit 4; }
libs="$DIR/root/usr/lib/x86_64-linux-gnu:$DIR/root/usr/lib/x86_64-linux-gnu/pulseaudio:$DIR/root/usr/lib"
fonts=""
[[ -d "$DIR/root/usr/share/fonts" ]] && fonts="export FONTCONFIG_FILE=\"$DIR/fonts.conf\""
cat >"$DIR/fonts.conf" <<EOF
<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig><include ignore_missing="yes">/etc/fonts/fonts.conf</include><dir>$DIR/root/usr/share/fonts</dir><cachedir>$DIR/fontcache</cachedir></fontconfig>
EOF
cat >"$WRAPPER" <<EOF
#!/bin/sh
export LD_LIBRARY_PATH="$libs\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
$fonts
exec "$binary" "\$@"
EOF
chmod +x "$WRAPPER"
works || { echo "install-chromium: $WRAPPER does not start" >&2; "$WRAPPER" --version >&2 || true; exit 4; }
echo "$WRAPPER"
