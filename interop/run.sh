#!/usr/bin/env bash
# Interop suite: pyetrade, fyers-apiv3, schwab-py and kiteconnect (pinned in requirements.txt)
# against a freshly built broker-sim on 127.0.0.1. `.ci/run` calls this.
#   INTEROP_VENV  where the virtualenv lives (default target/interop-venv)
#   PYTHON        the interpreter that creates it (default python3)
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${INTEROP_VENV:-target/interop-venv}"
if [ ! -x "$venv/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r interop/requirements.txt

cargo build --quiet -p broker-sim --bin broker-sim
target_dir="$(cargo metadata --format-version 1 --no-deps | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"

# The suite bounds itself (each HTTP call has a 10 s timeout); this is the backstop.
timeout 300 "$venv/bin/python" interop/run.py "$target_dir/debug/broker-sim"
