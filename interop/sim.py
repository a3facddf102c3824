"""Start a broker-sim binary on 127.0.0.1 (port 0) and drive its /__sim/ control API.

Used by the interop scripts; never talks to anything but loopback.
"""

import re
import subprocess
import time

import requests

LISTENING = re.compile(r"broker-sim listening on (http://127\.0\.0\.1:\d+)")


class Sim:
    """A broker-sim child process; stops when the `with` block ends."""

    def __init__(self, binary, *args):
        self.binary = binary
        self.args = list(args)
        self.proc = None
        self.base = None

    def __enter__(self):
        self.proc = subprocess.Popen(
            [self.binary, "--port", "0", *self.args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 30
        seen = []
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            m = LISTENING.search(line)
            if m:
                self.base = m.group(1)
                return self
        self.__exit__(None, None, None)
        raise RuntimeError("broker-sim did not print its address:\n" + "".join(seen))

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return False

    # --- control API -------------------------------------------------------

    def control(self, method, path, body=None):
        r = requests.request(method, f"{self.base}/__sim/{path}", json=body, timeout=10)
        r.raise_for_status()
        return r.json()

    def credentials(self):
        return self.control("GET", "credentials")

    def now(self):
        return self.control("GET", "clock")["now"]

    def advance(self, seconds):
        return self.control("POST", "clock/advance", {"seconds": int(seconds)})

    def set_clock(self, rfc3339):
        return self.control("POST", "clock/set", {"now": rfc3339})

    def settings(self, **changes):
        return self.control("POST", "settings", changes)

    def fault(self, endpoint, fault, times=None):
        body = {"endpoint": endpoint, "fault": fault}
        if times is not None:
            body["times"] = times
        return self.control("POST", "faults", body)

    def clear_faults(self):
        return self.control("DELETE", "faults")

    def counters(self):
        return self.control("GET", "counters")


class Checks:
    """Counts named checks; a failing check prints why and the run goes on."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def run(self, name, fn):
        try:
            fn()
        except Exception as e:  # any failure is reported, never hidden
            self.failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
        else:
            self.passed += 1
            print(f"ok   {name}", flush=True)


def expect(cond, what):
    """Raise AssertionError(what) unless cond (asserts survive python -O)."""
    if not cond:
        raise AssertionError(what)
