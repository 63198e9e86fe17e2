"""The whole sign-in path for real: a test OIDC provider on loopback, the dashboard, Debian's chromium.

Allowed director gets in and sees every page; an allowed researcher sees no
Patient or Safety page; someone not on the allow-list is refused; a signed-out
visitor sees no data.  Skipped (with the reason) only where chromium is absent.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from conftest import ROOT
from app_pages.serving import free_port, serve_dashboard
from browser_helpers import CHROMIUM, CHROMIUM_ARGS, FOOTER, upload

pytestmark = pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian chromium not installed (.ci/run installs it)")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright not installed (.ci/run installs it)")
expect = playwright.expect
NO_DATA = ("[data-testid='stDataFrame'], [data-testid='stPlotlyChart'], [data-testid='stVegaLiteChart'], "
           "[data-testid='stMetric']")


@pytest.fixture(scope="module")
def signed_in_dashboard():
    from oidc_provider import TestOIDCProvider

    with TestOIDCProvider() as idp:
        port = free_port()
        home = Path(tempfile.mkdtemp())
        (home / ".streamlit").mkdir()
        shutil.copy(ROOT / ".streamlit" / "config.toml", home / ".streamlit" / "config.toml")
        (home / ".streamlit" / "secrets.toml").write_text(f"""
[auth]
redirect_uri = "http://127.0.0.1:{port}/oauth2callback"
cookie_secret = "{'c' * 40}"
client_id = "{idp.client_id}"
client_secret = "test-secret"
server_metadata_url = "{idp.metadata_url}"
[access]
allowed_domains = ["clinic.org"]
directors = ["boss@clinic.org"]
""")
        env = {k: v for k, v in os.environ.items() if k != "OUTCOMES_DATA"}
        env["OUTCOMES_DB"] = str(home / "none.sqlite")
        with serve_dashboard(env=env, cwd=home, port=port) as url, playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield url, idp, browser, home / "none.sqlite"
            browser.close()
        shutil.rmtree(home, ignore_errors=True)


def sign_in(url, idp, browser, email, *, verified=True):
    context = browser.new_context()
    page = context.new_page()
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector("text=Sign in with your clinic account", timeout=60_000)
    # signed out: the sign-in prompt (the last thing that page draws) and nothing else
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=60_000)
    expect(page.locator(NO_DATA)).to_have_count(0)
    idp.next_email, idp.next_email_verified = email, verified
    page.get_by_role("button", name="Sign in").click()
    return context, page


def test_director_signs_in_and_sees_every_page(signed_in_dashboard):
    url, idp, browser, _ = signed_in_dashboard
    context, page = sign_in(url, idp, browser, "boss@clinic.org")
    page.wait_for_selector("h1:has-text('Outcome overview')", timeout=60_000)
    page.wait_for_selector("text=Signed in as boss@clinic.org (director)", timeout=30_000)
    nav = page.locator("[data-testid='stSidebarNav']")
    for name in ("Overview", "Patient", "Safety", "Tolerability", "Research", "Export", "Data"):
        expect(nav).to_contain_text(name, timeout=30_000)
    context.close()


def test_researcher_sees_no_patient_or_safety_page(signed_in_dashboard):
    url, idp, browser, _ = signed_in_dashboard
    context, page = sign_in(url, idp, browser, "analyst@clinic.org")
    page.wait_for_selector("text=Signed in as analyst@clinic.org (researcher)", timeout=60_000)
    nav = page.locator("[data-testid='stSidebarNav']")
    expect(nav).to_contain_text("Research", timeout=30_000)  # the navigation has drawn
    expect(nav).to_contain_text("Trajectories")
    for name in ("Safety", "Tolerability", "Patient", "Data", "Export"):
        expect(nav).not_to_contain_text(name)
    context.close()


def test_stranger_is_refused_and_sees_no_data(signed_in_dashboard):
    url, idp, browser, _ = signed_in_dashboard
    context, page = sign_in(url, idp, browser, "stranger@gmail.com")
    page.wait_for_selector("h1:has-text('Access refused')", timeout=60_000)
    expect(page.get_by_text("not on this clinic's allow-list")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible(timeout=30_000)  # drawn last
    expect(page.locator(NO_DATA)).to_have_count(0)
    context.close()


def test_unverified_address_is_refused_even_on_the_allow_list(signed_in_dashboard):
    url, idp, browser, _ = signed_in_dashboard
    context, page = sign_in(url, idp, browser, "boss@clinic.org", verified=False)
    page.wait_for_selector("h1:has-text('Access refused')", timeout=60_000)
    expect(page.get_by_text("has not verified boss@clinic.org")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible(timeout=30_000)
    expect(page.locator(NO_DATA)).to_have_count(0)
    expect(page.get_by_text("Signed in as")).to_have_count(0)
    context.close()


def test_director_import_is_recorded_as_the_director(signed_in_dashboard):
    # last in this module: it fills the store the other tests see empty
    from analytics.audit import list_audit, verify_audit
    from analytics.store import list_imports

    url, idp, browser, store = signed_in_dashboard
    context, page = sign_in(url, idp, browser, "boss@clinic.org")
    page.wait_for_selector("text=Signed in as boss@clinic.org (director)", timeout=60_000)
    page.goto(f"{url}/data", wait_until="domcontentloaded")
    expect(page.get_by_text(FOOTER)).to_be_visible(timeout=60_000)
    upload(page, ROOT / "sample_data" / "tiny_clinic.csv")
    page.get_by_role("button", name="Check and import").click()
    page.wait_for_selector("text=import 1 done", timeout=60_000)
    assert list_imports(store)["user"].tolist() == ["boss@clinic.org"]
    trail = list_audit(store)
    assert trail["action"].tolist() == ["import"] and trail["user"].tolist() == ["boss@clinic.org"]
    assert verify_audit(store).ok
    context.close()
