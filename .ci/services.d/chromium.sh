# Sourced by .ci/run before the tests: makes Debian's chromium and
# chromium-driver available for the control server's browser test
# (crates/control/tests/browser.rs). The test starts its own chromedriver on
# a free loopback port with a headless chromium and a temporary profile;
# this only installs the binaries and exports where they are. Under CI a
# missing browser fails the test, never skips it. Must not exit the calling
# shell on success.

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "chromium or chromedriver missing: installing Debian's chromium and chromium-driver"
  if [ "$(id -u)" = "0" ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
fi

CHROMIUM_BIN="$(command -v chromium || true)"
CHROMEDRIVER_BIN="$(command -v chromedriver || true)"
if [ -z "$CHROMIUM_BIN" ] || [ -z "$CHROMEDRIVER_BIN" ]; then
  echo "error: chromium/chromedriver could not be installed; the control server's browser test needs them" >&2
  return 1 2>/dev/null || exit 1
fi
export CHROMIUM_BIN CHROMEDRIVER_BIN
export CI="${CI:-true}"
echo "chromium: $CHROMIUM_BIN; chromedriver: $CHROMEDRIVER_BIN ($("$CHROMEDRIVER_BIN" --version | head -n1))"
