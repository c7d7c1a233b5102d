#!/usr/bin/env bash
# One-step set-up of a development checkout: system packages (Debian/Ubuntu, when run as root or
# with sudo), a virtual environment in .venv, and the app with its test extras.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(
  # Qt's xcb platform plugin and a virtual X server for the GUI tests
  xvfb xauth libegl1 libgl1 libgl1-mesa-dri libdbus-1-3 libfontconfig1 libglib2.0-0
  libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
  libxcb-render-util0 libxcb-render0 libxcb-shape0 libxcb-util1 libxcb-xkb1 libxrender1 libxi6
  # a real PostgreSQL for the Supabase sync tests
  postgresql
  # PyInstaller's binary analysis and stripping (objdump, strip); the .desktop entry validator
  binutils desktop-file-utils
)

if command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; then
  missing=()
  for pkg in "${SYSTEM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "installing system packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
else
  echo "note: not a Debian-like system; install Xvfb, Mesa GL/EGL and PostgreSQL yourself" >&2
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test,freeze]'

# The Khronos glTF validator, which the GLB export tests run (tests/gltf_validator.py), with the
# machine's Node.js into a project-local folder. Pinned: a new validator release may add checks,
# and "0 errors, 0 warnings" must mean the same thing on every machine. Keep the version equal to
# PINNED_VERSION in tests/gltf_validator.py.
GLTF_VALIDATOR_VERSION="2.0.0-dev.3.10"
TOOLS_DIR=".tools"
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  installed="$(node -p "require('./$TOOLS_DIR/node_modules/gltf-validator/package.json').version" \
    2>/dev/null || true)"
  if [ "$installed" != "$GLTF_VALIDATOR_VERSION" ]; then
    echo "installing gltf-validator $GLTF_VALIDATOR_VERSION into $TOOLS_DIR/node_modules"
    npm install --prefix "$TOOLS_DIR" --no-save --no-audit --no-fund --loglevel=error \
      "gltf-validator@$GLTF_VALIDATOR_VERSION" >/dev/null
  fi
else
  echo "note: Node.js and npm not found; the glTF validator tests skip (and fail in CI)." \
    "Install nodejs and npm, then run this script again" >&2
fi
echo "ready: .venv/bin/automata-desktop starts the app, .venv/bin/python -m pytest runs the tests"
