"""CI for the example bot: broker-sim, `tokenctl run --proxy` with a FYERS
dotenv sink, and bot.py, through a midnight New York expiry (the proxy
answers 503 naming the login), a login, and recovery. Asserts what the bot
saw. Loopback only.

    python ci.py BROKER_SIM_BINARY TOKENCTL_BINARY   (tokenctl built with --features test-clock)
"""

import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "interop"))
from sim import Checks, Sim, expect  # noqa: E402

WEDNESDAY_10_NY = "2026-03-04T15:00:00Z"
THURSDAY_0030_NY = "2026-03-05T05:30:00Z"


def query_param(text, name):
    """`name` from the first URL in `text` that has it, decoded."""
    for word in text.split():
        if "?" in word:
            values = urllib.parse.parse_qs(urllib.parse.urlsplit(word).query).get(name)
            if values:
                return values[0]
    return None


def private(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


class Env:
    def __init__(self, sim, tokenctl, work):
        self.sim, self.tokenctl, self.work = sim, tokenctl, work
        self.clock_file = os.path.join(work, "clock")
        self.config = os.path.join(work, "tokenctl.toml")
        self.env = dict(os.environ, TOKENCTL_TEST_CLOCK=self.clock_file, RUST_LOG="info")
        self.log = []

    def set_time(self, rfc3339):
        """Moves broker-sim's clock and tokenctl's together."""
        self.sim.set_clock(rfc3339)
        private(self.clock_file, rfc3339 + "\n")

    def cli(self, *args, stdin=subprocess.DEVNULL):
        return subprocess.run(
            [self.tokenctl, "--config", self.config, *args],
            stdin=stdin, capture_output=True, text=True, env=self.env, timeout=60,
        )

    def login_etrade(self):
        started = self.cli("login", "main")
        expect(started.returncode == 0, f"login start: {started.stdout}{started.stderr}")
        token = query_param(started.stdout, "token")
        expect(token, f"no authorize URL: {started.stdout}")
        verifier = self.sim.control("POST", "etrade/approve", {"request_token": token})["verifier"]
        done = self.cli("login", "main", "--verifier", verifier)
        expect(done.returncode == 0, f"login finish: {done.stdout}{done.stderr}")

    def login_fyers(self, creds):
        p = subprocess.Popen(
            [self.tokenctl, "--config", self.config, "login", "desk", "--paste"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=self.env,
        )
        state = None
        while state is None:
            line = p.stdout.readline()
            expect(line, "FYERS login printed no URL")
            state = query_param(line, "state")
        redirect = self.sim.control("POST", "fyers/approve", {
            "client_id": creds["fyers_client_id"],
            "redirect_uri": creds["fyers_redirect_uri"],
            "state": state,
        })["redirect_url"]
        out, err = p.communicate(redirect + "\n", timeout=60)
        expect(p.returncode == 0, f"FYERS login: {out}{err}")

    def start_run(self):
        self.run = subprocess.Popen(
            [self.tokenctl, "--config", self.config, "run", "--proxy", "127.0.0.1:0"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True, env=self.env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.run.stderr.readline()
            expect(line, "tokenctl run ended:\n" + "".join(self.log))
            self.log.append(line)
            m = re.search(r"proxy listening on (http://\S+)", line)
            if m:
                threading.Thread(target=self.drain, daemon=True).start()
                return m.group(1)
        raise AssertionError("the proxy never said where it listens")

    def drain(self):
        for line in self.run.stderr:
            self.log.append(line)

    def stop_run(self):
        self.run.terminate()
        self.run.wait(timeout=20)


def main():
    sim_binary, tokenctl = sys.argv[1], sys.argv[2]
    checks = Checks()
    with Sim(sim_binary) as sim, tempfile.TemporaryDirectory() as work:
        os.chmod(work, 0o700)
        creds = sim.credentials()
        env = Env(sim, tokenctl, work)
        env.set_time(WEDNESDAY_10_NY)
        bearer = secrets.token_hex(32)
        private(os.path.join(work, "proxy-token"), bearer)
        private(os.path.join(work, "consumer_secret"), creds["etrade_consumer_secret"])
        private(os.path.join(work, "secret_key"), creds["fyers_secret_key"])
        private(os.path.join(work, "pin"), creds["fyers_pin"])
        os.mkdir(os.path.join(work, "bot"), 0o700)
        env_file = os.path.join(work, "bot", ".env")
        with open(env.config, "w") as f:
            f.write(f"""
[proxy]
token = {{ file = "proxy-token" }}

[[account]]
broker = "etrade"
environment = "sandbox"
label = "main"
consumer_key = "{creds['etrade_consumer_key']}"
consumer_secret = {{ file = "consumer_secret" }}
base_url = "{sim.base}"

[[account]]
broker = "fyers"
label = "desk"
client_id = "{creds['fyers_client_id']}"
secret_key = {{ file = "secret_key" }}
pin = {{ file = "pin" }}
redirect_uri = "{creds['fyers_redirect_uri']}"
base_url = "{creds['fyers_base_url']}"

[[account.sink]]
kind = "dotenv"
path = "bot/.env"
""")
        env.login_etrade()
        env.login_fyers(creds)
        proxy = env.start_run()
        deadline = time.monotonic() + 20
        while not os.path.exists(env_file) and time.monotonic() < deadline:
            time.sleep(0.05)

        def bot():
            out = subprocess.run(
                [sys.executable, os.path.join(HERE, "bot.py"), "--once",
                 "--proxy", proxy, "--proxy-token-file", os.path.join(work, "proxy-token"),
                 "--fyers-env", env_file, "--fyers-client-id", creds["fyers_client_id"],
                 "--fyers-base-url", creds["fyers_base_url"]],
                capture_output=True, text=True, timeout=60,
            )
            expect(out.returncode == 0, f"bot failed: {out.stderr}")
            print(f"     bot saw: {out.stdout.strip()}", flush=True)
            return json.loads(out.stdout)

        def trading_day():
            seen = bot()
            expect(seen["etrade"]["status"] == 200, seen)
            expect(seen["etrade"]["accounts"] == ["JIdOIAcSpwR1Jva7RQBraQ"], seen)
            expect(seen["fyers"]["status"] == 200, seen)

        def after_midnight():
            env.set_time(THURSDAY_0030_NY)
            seen = bot()
            expect(seen["etrade"]["status"] == 503, seen)
            expect(seen["etrade"]["error"] == "no_usable_token", seen)
            expect(seen["etrade"]["next_action"]["action"] == "login", seen)

        def login_and_recovery():
            env.login_etrade()
            seen = bot()
            expect(seen["etrade"]["status"] == 200, seen)

        checks.run("trading day: E*TRADE through the proxy, FYERS from the .env sink", trading_day)
        checks.run("after midnight New York: the proxy answers 503 naming the login", after_midnight)
        checks.run("a login from another process: the bot recovers", login_and_recovery)
        env.stop_run()

        def no_secret_logged():
            log = "".join(env.log)
            for s in (bearer, creds["etrade_consumer_secret"], creds["fyers_secret_key"], creds["fyers_pin"]):
                expect(s not in log, "a secret reached tokenctl's log")
        checks.run("no secret in tokenctl's log", no_secret_logged)
    print(f"example bot: {checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
