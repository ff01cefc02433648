#!/usr/bin/env bash
# Debian packages the project cannot get from PyPI: mosquitto (MQTT tests), chromium (browser tests).
set -euo pipefail
missing=()
command -v mosquitto >/dev/null 2>&1 || missing+=(mosquitto)
command -v chromium >/dev/null 2>&1 || missing+=(chromium chromium-driver)
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing system packages: ${missing[*]} (install them with apt-get as root)" >&2
  exit 0
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
