# Sourced by .ci/run before the tests: makes a real redis-server available
# for crates/token-store-redis. The tests start their own servers (free
# loopback ports, temporary directories); this only installs the binary and
# exports where it is. Must not exit the calling shell on success.

if ! command -v redis-server >/dev/null 2>&1; then
  echo "redis-server missing: installing Debian's redis-server package"
  if [ "$(id -u)" = "0" ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi

REDIS_SERVER_BIN="$(command -v redis-server || true)"
if [ -z "$REDIS_SERVER_BIN" ]; then
  echo "error: redis-server could not be installed; token-store-redis tests need it" >&2
  return 1 2>/dev/null || exit 1
fi
export REDIS_SERVER_BIN
# The Redis tests skip without a server only outside CI; a run through
# .ci/run is CI even where the runner does not set CI itself.
export CI="${CI:-true}"
echo "redis-server: $REDIS_SERVER_BIN ($("$REDIS_SERVER_BIN" --version | head -n1))"
