"""An example trading bot in Python that leaves its broker tokens to tokenctl.

- E*TRADE through the local signing proxy (`tokenctl run --proxy`): the bot
  sends plain, unsigned requests; tokenctl signs them with the live token.
  A 503 means no token works and a person must act: the answer says what
  (`next_action`) and by when.
- FYERS through the dotenv sink: tokenctl keeps FYERS_ACCESS_TOKEN up to
  date in a .env file; the bot re-reads it before each call.

Run `python bot.py --help`. Each pass prints one JSON line of what it saw.
"""

import argparse
import json
import sys
import time

import requests
from dotenv import dotenv_values


def etrade_accounts(proxy, bearer, account):
    """GET /v1/accounts/list.json through the proxy; what came back."""
    r = requests.get(
        f"{proxy}/{account}/v1/accounts/list.json",
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=30,
    )
    seen = {"status": r.status_code}
    if r.status_code == 200:
        accounts = r.json()["AccountListResponse"]["Accounts"]["Account"]
        seen["accounts"] = [a["accountIdKey"] for a in accounts]
    elif r.status_code == 503:
        # No usable token: do not trade; tell a person what to do.
        body = r.json()
        seen["error"] = body["error"]
        seen["next_action"] = body["next_action"]
    else:
        seen["body"] = r.text[:200]
    return seen


def fyers_profile(env_file, client_id, base_url):
    """GET /profile with the token the dotenv sink wrote."""
    token = dotenv_values(env_file).get("FYERS_ACCESS_TOKEN")
    if not token:
        return {"status": None, "error": "no FYERS token in the sink"}
    r = requests.get(
        f"{base_url}/profile",
        headers={"Authorization": f"{client_id}:{token}"},
        timeout=30,
    )
    return {"status": r.status_code}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--proxy", required=True, help="e.g. http://127.0.0.1:9185")
    p.add_argument("--proxy-token-file", required=True, help="the [proxy] token file")
    p.add_argument("--etrade-account", default="main", help="account label in tokenctl.toml")
    p.add_argument("--fyers-env", help=".env file of the FYERS dotenv sink")
    p.add_argument("--fyers-client-id", help="the FYERS app's client id")
    p.add_argument("--fyers-base-url", default="https://api-t1.fyers.in/api/v3")
    p.add_argument("--every", type=float, default=60.0, help="seconds between passes")
    p.add_argument("--once", action="store_true", help="one pass, then exit")
    args = p.parse_args()
    with open(args.proxy_token_file) as f:
        bearer = f.read().strip()
    while True:
        seen = {"etrade": etrade_accounts(args.proxy, bearer, args.etrade_account)}
        if args.fyers_env:
            seen["fyers"] = fyers_profile(args.fyers_env, args.fyers_client_id, args.fyers_base_url)
        print(json.dumps(seen), flush=True)
        if args.once:
            return 0
        time.sleep(args.every)


if __name__ == "__main__":
    sys.exit(main())
