"""Interop suite: the brokers' official Python clients against broker-sim.

    python interop/run.py PATH/TO/broker-sim

Prints one line per check and a closing `N passed, M failed`; exits 1 on
any failure.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import etrade_pyetrade  # noqa: E402
import fyers_sdk  # noqa: E402
import schwab_sdk  # noqa: E402
import kite_sdk  # noqa: E402
from sim import Checks  # noqa: E402


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    binary = sys.argv[1]
    checks = Checks()
    started = time.monotonic()
    for module in (etrade_pyetrade, fyers_sdk, schwab_sdk, kite_sdk):
        try:
            module.run(binary, checks)
        except Exception as e:  # a broken setup is a failure, not a crash
            checks.failed += 1
            print(f"FAIL {module.__name__}: setup: {type(e).__name__}: {e}", flush=True)
    print(f"({time.monotonic() - started:.1f} s)")
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed or not checks.passed else 0


if __name__ == "__main__":
    sys.exit(main())
