#!/usr/bin/env bash
# Build the one-folder app (GUI + CLI) with PyInstaller: dist/automata-desktop/ on Linux,
# also dist/"AUTOMATA Desktop.app" on macOS. Run on the OS you build for; PyInstaller does not
# cross-compile. Windows: installer/build-app.ps1 does the same.
#
#   installer/build-app.sh            # uses .venv/bin/python, installs PyInstaller if missing
#   PYTHON=python3 DIST=/tmp/out installer/build-app.sh
#   ARCHIVE=1 installer/build-app.sh  # also dist/automata-desktop-<version>-linux-<arch>.tar.gz
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-.venv/bin/python}"
DIST="${DIST:-dist}"
WORK="${WORK:-build/pyinstaller}"

if ! "$PYTHON" -c 'import PyInstaller' 2>/dev/null; then
  echo "installing PyInstaller into $("$PYTHON" -c 'import sys; print(sys.prefix)')"
  "$PYTHON" -m pip install -q 'pyinstaller>=6'
fi

start=$(date +%s)
"$PYTHON" -m PyInstaller --noconfirm --clean --log-level "${LOG_LEVEL:-WARN}" \
  --distpath "$DIST" --workpath "$WORK" installer/automata.spec
app="$DIST/automata-desktop"
echo "built $app in $(( $(date +%s) - start )) s, $(du -sh "$app" | cut -f1)"
echo "run:   $app/automata-desktop    CLI: $app/automata doctor --offline"
if [ "${ARCHIVE:-0}" = 1 ]; then
  version=$("$app/automata" --version | cut -d' ' -f2)
  os=$(uname -s | tr '[:upper:]' '[:lower:]')
  archive="$DIST/automata-desktop-$version-$os-$(uname -m).tar.gz"
  tar -czf "$archive" -C "$DIST" automata-desktop
  echo "archive: $archive ($(du -h "$archive" | cut -f1))"
fi
