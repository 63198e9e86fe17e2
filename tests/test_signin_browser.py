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
from test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian chromium not installed (.ci/run installs it)")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright not installed (.ci/run installs it)")


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
            yield url, idp, browser
            browser.close()
        shutil.rmtree(home, ignore_errors=True)


def sign_in(url, idp, browser, email):
    context = browser.new_context()
    page = context.new_page()
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector("text=Sign in with your clinic account", timeout=60_000)
    # signed out: the sign-in prompt and nothing else
    assert page.locator("[data-testid='stDataFrame'], [data-testid='stPlotlyChart']").count() == 0
    idp.next_email = email
    page.get_by_role("button", name="Sign in").click()
    return context, page


def test_director_signs_in_and_sees_every_page(signed_in_dashboard):
    url, idp, browser = signed_in_dashboard
    context, page = sign_in(url, idp, browser, "boss@clinic.org")
    page.wait_for_selector("h1:has-text('Outcome overview')", timeout=60_000)
    page.wait_for_selector("text=Signed in as boss@clinic.org (director)", timeout=30_000)
    nav = page.locator("[data-testid='stSidebarNav']").inner_text()
    assert all(name in nav for name in ("Overview", "Patient", "Safety", "Research", "Export", "Data"))
    context.close()


def test_researcher_sees_no_patient_or_safety_page(signed_in_dashboard):
    url, idp, browser = signed_in_dashboard
    context, page = sign_in(url, idp, browser, "analyst@clinic.org")
    page.wait_for_selector("text=Signed in as analyst@clinic.org (researcher)", timeout=60_000)
    nav = page.locator("[data-testid='stSidebarNav']").inner_text()
    assert "Research" in nav and "Safety" not in nav and "Patient" not in nav and "Data" not in nav
    context.close()


def test_stranger_is_refused_and_sees_no_data(signed_in_dashboard):
    url, idp, browser = signed_in_dashboard
    context, page = sign_in(url, idp, browser, "stranger@gmail.com")
    page.wait_for_selector("h1:has-text('Access refused')", timeout=60_000)
    assert page.get_by_text("not on this clinic's allow-list").count() >= 1
    assert page.locator("[data-testid='stDataFrame'], [data-testid='stPlotlyChart']").count() == 0
    context.close()
