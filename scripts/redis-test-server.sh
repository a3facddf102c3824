#!/usr/bin/env bash
# Runs a throwaway redis-server on loopback for trying token-store-redis by
# hand (the test suite starts its own servers and does not need this).
#
#   scripts/redis-test-server.sh            # port 6390, data in a temp dir
#   scripts/redis-test-server.sh 6400 --requirepass s3cret
#
# Installs Debian's redis-server first if it is missing (needs root or sudo).
# Stops with Ctrl-C; the temporary directory is removed on exit.
set -euo pipefail

port="${1:-6390}"
shift || true

if ! command -v redis-server >/dev/null 2>&1; then
  echo "redis-server missing: installing Debian's redis-server package" >&2
  if [ "$(id -u)" = "0" ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends redis-server
fi

dir="$(mktemp -d -t redis-test-XXXXXX)"
trap 'rm -rf "$dir"' EXIT
echo "redis-server on redis://127.0.0.1:${port} (data in $dir, append-only file on)" >&2
echo "run the crate's tests with: REDIS_SERVER_BIN=$(command -v redis-server) cargo test -p token-store-redis" >&2
redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' \
  --appendonly yes --daemonize no "$@"
