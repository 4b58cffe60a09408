#!/bin/sh
# Installs what Outpost needs on first use: Bun (npm), media/broker/browser packages
# (apt-get, when root), and the JavaScript dependencies. Idempotent and quiet when all is there.
set -e
cd "$(dirname "$0")/.."

if ! command -v bun >/dev/null 2>&1; then
  echo "bootstrap: installing Bun with npm" >&2
  npm install -g bun >/dev/null
fi

APT_PACKAGES="gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-rtsp gstreamer1.0-x python3-gi gir1.2-gst-rtsp-server-1.0 gir1.2-gstreamer-1.0 ffmpeg mosquitto mosquitto-clients chromium fonts-liberation openssl iproute2 nftables curl gpsd gpsd-clients"
missing=""
for p in $APT_PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = "0" ]; then
    echo "bootstrap: installing Debian packages:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >/dev/null
    apt-get install -y --no-install-recommends $missing >/dev/null
  else
    echo "bootstrap: missing Debian packages. Run as root:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends$missing" >&2
    exit 1
  fi
fi

if [ ! -d node_modules ] || [ bun.lock -nt node_modules ]; then
  echo "bootstrap: installing JavaScript dependencies" >&2
  bun install --frozen-lockfile >/dev/null
  touch node_modules
fi
