"""pyetrade 2.1.1 (unmodified; only its URL attributes point at broker-sim)
against broker-sim's E*TRADE side: login through the authorize page, data
calls in pyetrade's default format (XML), renew, revoke, and the negative
cases (after revoke, idle, after midnight New York, renew that does not help).
"""

import re

import pyetrade
import requests
import xmltodict
from requests import HTTPError

from sim import Sim, expect

LOGINS = 40
VERIFIER = re.compile(r'id="verifier"[^>]*value="([A-Z0-9]+)"')


def point_oauth(o, base):
    o.req_token_url = f"{base}/oauth/request_token"
    o.auth_token_url = f"{base}/e/t/etws/authorize"
    o.access_token_url = f"{base}/oauth/access_token"
    return o


def login(sim, creds):
    """pyetrade's own login; the 'person' opens the exact URL pyetrade built."""
    o = point_oauth(
        pyetrade.ETradeOAuth(creds["etrade_consumer_key"], creds["etrade_consumer_secret"]),
        sim.base,
    )
    url = o.get_request_token()
    page = requests.get(url, timeout=10)
    expect(page.status_code == 200, f"authorize page {page.status_code} for {url}: {page.text[:200]}")
    m = VERIFIER.search(page.text)
    expect(m is not None, "no verifier on the authorize page")
    tokens = o.get_access_token(m.group(1))
    return url, tokens["oauth_token"], tokens["oauth_token_secret"]


def clients(sim, creds, token, secret):
    args = (creds["etrade_consumer_key"], creds["etrade_consumer_secret"], token, secret)
    accounts = pyetrade.ETradeAccounts(*args, dev=False)
    accounts.base_url = f"{sim.base}/v1/accounts"
    market = pyetrade.ETradeMarket(*args, dev=False)
    market.base_url = f"{sim.base}/v1/market/"
    access = pyetrade.ETradeAccessManager(*args)
    access.renew_access_token_url = f"{sim.base}/oauth/renew_access_token"
    access.revoke_access_token_url = f"{sim.base}/oauth/revoke_access_token"
    return accounts, market, access


def status_of(call):
    """The HTTP status a pyetrade call raised with (200 if it returned)."""
    try:
        call()
    except HTTPError as e:
        return e.response.status_code, e.response.text
    return 200, ""


def run(binary, checks):
    with Sim(binary, "--timestamps", "real") as sim:
        creds = sim.credentials()

        def forty_logins():
            ok, with_plus = 0, 0
            for i in range(LOGINS):
                url, token, _ = login(sim, creds)
                ok += 1
                with_plus += "+" in url.split("token=", 1)[1]
            expect(ok == LOGINS, f"{ok} of {LOGINS} logins")
            print(f"     {ok}/{LOGINS} pyetrade logins, {with_plus} with a literal '+' in token=")

        checks.run(f"etrade: {LOGINS} of {LOGINS} pyetrade logins through the authorize page", forty_logins)

        _, token, secret = login(sim, creds)
        accounts, market, access = clients(sim, creds, token, secret)

        def data_in_xml():
            doc = accounts.list_accounts()
            acct = doc["AccountListResponse"]["Accounts"]["Account"]
            expect(acct["accountId"] == "84010429", f"accounts: {doc}")
            q = market.get_quote(["AAPL", "MSFT"])
            data = q["QuoteResponse"]["QuoteData"]
            expect([d["Product"]["symbol"] for d in data] == ["AAPL", "MSFT"], f"quote: {q}")

        checks.run("etrade: list_accounts() and get_quote() in pyetrade's default XML", data_in_xml)

        def data_in_json():
            doc = accounts.list_accounts(resp_format="json")
            expect(doc["AccountListResponse"]["Accounts"]["Account"][0]["accountId"] == "84010429", str(doc))

        checks.run("etrade: list_accounts(resp_format='json') answers JSON", data_in_json)

        def idle_then_renew():
            sim.advance(2 * 3600 + 60)
            code, body = status_of(accounts.list_accounts)
            expect(code == 401 and "token_expired" in body, f"idle call: {code} {body}")
            expect(access.renew_access_token() is True, "renew")
            accounts.list_accounts()

        checks.run("etrade: idle after 2 h (clock moved by the control API), renew revives", idle_then_renew)

        def renew_that_does_not_help():
            sim.advance(2 * 3600 + 60)
            sim.fault("etrade_renew", {"kind": "renew_without_effect"}, times=1)
            expect(access.renew_access_token() is True, "faulted renew should answer 200")
            code, _ = status_of(accounts.list_accounts)
            expect(code == 401, f"token should still be idle, got {code}")
            expect(access.renew_access_token() is True, "real renew")
            accounts.list_accounts()

        checks.run("etrade: renew_without_effect fault: 200 while the token stays idle", renew_that_does_not_help)

        def error_shapes():
            sim.advance(2 * 3600 + 60)
            sim.settings(etrade_error_style="xml")
            code, body = status_of(accounts.list_accounts)
            err = xmltodict.parse(body)["Error"]
            expect(code == 401 and err["message"] == "oauth_problem=token_expired", f"{code} {body}")
            sim.settings(etrade_legacy_token_errors=True)
            code, body = status_of(accounts.list_accounts)
            err = xmltodict.parse(body)["Error"]
            expect(code == 401 and err["message"] == "Invalid access token used", f"{code} {body}")
            sim.settings(etrade_error_style="json", etrade_legacy_token_errors=False)
            access.renew_access_token()

        checks.run("etrade: XML error body and legacy 'Invalid access token used' modes", error_shapes)

        def after_midnight_new_york():
            sim.advance(26 * 3600)
            code, body = status_of(access.renew_access_token)
            expect(code == 401 and "token_expired" in body, f"renew after midnight: {code} {body}")
            code, _ = status_of(accounts.list_accounts)
            expect(code == 401, f"call after midnight: {code}")
            _, t2, s2 = login(sim, creds)
            a2, _, _ = clients(sim, creds, t2, s2)
            a2.list_accounts()

        checks.run("etrade: after midnight New York renew fails; a new login works", after_midnight_new_york)

        def revoke():
            _, t3, s3 = login(sim, creds)
            a3, _, m3 = clients(sim, creds, t3, s3)
            a3.list_accounts()
            expect(m3.revoke_access_token() is True, "revoke")
            code, body = status_of(a3.list_accounts)
            expect(code == 401 and "token_rejected" in body, f"after revoke: {code} {body}")
            code, _ = status_of(m3.renew_access_token)
            expect(code == 401, f"renew after revoke: {code}")

        checks.run("etrade: revoke_access_token, then calls and renew are rejected", revoke)

        def verifier_is_single_use():
            o = point_oauth(
                pyetrade.ETradeOAuth(creds["etrade_consumer_key"], creds["etrade_consumer_secret"]),
                sim.base,
            )
            url = o.get_request_token()
            verifier = VERIFIER.search(requests.get(url, timeout=10).text).group(1)
            o.get_access_token(verifier)
            try:
                o.get_access_token(verifier)
            except Exception as e:  # requests_oauthlib raises TokenRequestDenied
                expect("401" in str(e) or "token_rejected" in str(e), str(e))
            else:
                raise AssertionError("a request token was exchanged twice")

        checks.run("etrade: a request token and its verifier work once", verifier_is_single_use)

    # Without --timestamps real, a client on the real clock is refused once
    # the control API has moved simulated time (the issue this flag solves).
    with Sim(binary) as sim:
        creds = sim.credentials()

        def refused_on_the_simulated_clock():
            _, token, secret = login(sim, creds)
            accounts, _, _ = clients(sim, creds, token, secret)
            accounts.list_accounts()
            sim.advance(3600)
            code, body = status_of(accounts.list_accounts)
            expect(code == 401 and "timestamp_refused" in body, f"{code} {body}")

        checks.run("etrade: default --timestamps sim refuses real-clock clients after a clock move",
                   refused_on_the_simulated_clock)
