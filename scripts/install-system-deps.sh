#!/usr/bin/env bash
# Debian packages the project cannot get from PyPI: mosquitto (MQTT tests), chromium (browser tests),
# kcat (docs/consumers.md and its test), the DejaVu fonts (synthetic plates).
set -euo pipefail
missing=()
command -v mosquitto >/dev/null 2>&1 || missing+=(mosquitto)
command -v chromium >/dev/null 2>&1 || missing+=(chromium chromium-driver)
# a real RTSP server (GStreamer's) and ffmpeg for the camera manager's RTSP test
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
/usr/bin/python3 -c "import gi; gi.require_version('GstRtspServer', '1.0')" >/dev/null 2>&1 \
  || missing+=(gir1.2-gst-rtsp-server-1.0 python3-gst-1.0 gstreamer1.0-plugins-good \
    gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad gstreamer1.0-libav)
# Chinese province characters on plates render in the browser tests
# (a file test: `fc-list | grep -q` under pipefail fails on SIGPIPE and reinstalled every time)
[ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || missing+=(fonts-noto-cjk)
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
# the synthetic plates' fonts (services/detect/synth.py): benchmarks, tests and the int8
# detector's calibration at `models prepare`
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf ] \
  || missing+=(fonts-dejavu-core fonts-dejavu-extra)
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing system packages: ${missing[*]} (install them with apt-get as root)" >&2
  exit 0
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
