#!/usr/bin/env bash
# The Python example bot against broker-sim through a midnight New York
# expiry, a login and recovery (examples/python/ci.py). `.ci/run` calls this.
#   EXAMPLE_VENV  where the virtualenv lives (default target/example-venv)
#   PYTHON        the interpreter that creates it (default python3)
set -euo pipefail
cd "$(dirname "$0")/../.."

venv="${EXAMPLE_VENV:-target/example-venv}"
if [ ! -x "$venv/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r examples/python/requirements.txt

cargo build --quiet -p broker-sim --bin broker-sim
# The test clock lets CI reach midnight New York in seconds; never in a release.
cargo build --quiet -p tokenctl --features test-clock --bin tokenctl
target_dir="$(cargo metadata --format-version 1 --no-deps | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"

timeout 300 "$venv/bin/python" examples/python/ci.py "$target_dir/debug/broker-sim" "$target_dir/debug/tokenctl"
