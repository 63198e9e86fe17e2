"""Who may see the data: sign-in, allow-list and roles under AppTest (st.user and secrets seeded)."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from conftest import ROOT

AUTH = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "x" * 32, "client_id": "c",
        "client_secret": "s", "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}
ACCESS = {"allowed_emails": ["boss@clinic.org"], "allowed_domains": ["clinic.org"], "directors": ["boss@clinic.org"]}


pytestmark = pytest.mark.usefixtures("without_clinic_store")


def app(user):
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=90)
    at.secrets["auth"] = AUTH
    at.secrets["access"] = ACCESS
    at.user = user
    return at.run()


def shows_data(at):
    return bool(at.dataframe) or bool(at.metric)


def test_signed_out_sees_only_the_sign_in():
    at = app({"is_logged_in": False})
    assert not at.exception and not shows_data(at)
    assert at.button(key="sign_in").label == "Sign in"


def test_not_on_the_allow_list_is_refused():
    at = app({"is_logged_in": True, "email": "someone@gmail.com"})
    assert not at.exception and not shows_data(at)
    assert "not on this clinic's allow-list" in at.error[0].value


def test_researcher_sees_no_patient_safety_export_or_data():
    at = app({"is_logged_in": True, "email": "analyst@clinic.org"})
    assert not at.exception and shows_data(at)
    assert any("researcher" in c.value for c in at.sidebar.caption)
    for page in ("patient", "safety", "tolerability", "export", "data"):  # not even registered in the navigation
        with pytest.raises(ValueError, match="Known pages"):
            at.switch_page(f"app_pages/{page}.py")
    at.switch_page("app_pages/research.py").run()
    assert not at.exception and shows_data(at)


@pytest.mark.parametrize("page", ["patient", "safety", "tolerability", "export", "data"])
def test_direct_link_to_a_director_page_is_stopped(page):
    at = AppTest.from_file(str(ROOT / "app_pages" / f"{page}.py"), default_timeout=60)
    at.session_state["role"] = "researcher"
    at.run()
    assert not at.exception and "for clinic directors" in at.warning[0].value and not shows_data(at)


def test_director_sees_everything():
    at = app({"is_logged_in": True, "email": "boss@clinic.org"})
    assert any("director" in c.value for c in at.sidebar.caption)
    at.switch_page("app_pages/safety.py").run()
    assert not at.exception and shows_data(at)


def test_only_a_signed_in_director_marks_safety_reviews(tmp_path):
    from analytics.audit import list_audit
    from analytics.reviews import list_reviews

    db = tmp_path / "no-store.sqlite"  # the store the without_clinic_store fixture points at
    at = app({"is_logged_in": True, "email": "boss@clinic.org"})
    at.switch_page("app_pages/safety.py").run()
    at.text_area(key="review_note").input("called back").run()
    at.button(key="mark_reviewed").click().run()
    assert not at.exception
    assert list(list_reviews(db)["user"]) == ["boss@clinic.org"]
    assert list(list_audit(db)["user"]) == ["boss@clinic.org"]
    # a researcher's session never gets the button, even on a direct link to the page
    direct = AppTest.from_file(str(ROOT / "app_pages" / "safety.py"), default_timeout=60)
    direct.session_state["role"] = "researcher"
    direct.run()
    assert not direct.exception and not [b for b in direct.button if b.key == "mark_reviewed"]
    assert len(list_reviews(db)) == 1


# ----------------------------------------------------------------------------- verified addresses only

@pytest.mark.parametrize("claim", [False, "false", None])
def test_unverified_address_is_refused_even_on_the_allow_list(claim):
    user = {"is_logged_in": True, "email": "boss@clinic.org"}
    if claim is not None:
        user["email_verified"] = claim
        at = app(user)
        assert not at.exception and not shows_data(at)
        assert "has not verified boss@clinic.org" in at.error[0].value
        assert not any("director" in c.value for c in at.sidebar.caption)
    else:  # a provider that does not send the claim: the allow-list decides
        assert shows_data(app(user))


def test_verified_address_given_as_text_is_accepted():
    at = app({"is_logged_in": True, "email": "boss@clinic.org", "email_verified": "true"})
    assert not at.exception and shows_data(at) and any("director" in c.value for c in at.sidebar.caption)


# ----------------------------------------------------------------------------- who did what

def test_signed_in_director_is_recorded_as_themselves(tmp_path):
    from analytics.audit import list_audit
    from analytics.store import list_cohorts

    db = tmp_path / "no-store.sqlite"  # the store the without_clinic_store fixture points at
    at = app({"is_logged_in": True, "email": "boss@clinic.org"})
    at.switch_page("app_pages/research.py").run()
    at.text_input(key="cohort_name").input("all of them").run()
    at.button(key="save_cohort").click().run()
    assert not at.exception
    at.switch_page("app_pages/export.py").run()
    at.button(key="build_export").click().run()
    assert not at.exception
    trail = list_audit(db)
    assert list(trail["action"]) == ["cohort save", "export (dashboard) started", "export (dashboard)"]
    assert (trail["user"] == "boss@clinic.org").all()
    assert list_cohorts(db).set_index("name").loc["all of them", "owner"] == "boss@clinic.org"


def test_researcher_cannot_overwrite_a_directors_cohort(tmp_path):
    from analytics.audit import list_audit
    from analytics.store import list_cohorts, save_cohort

    db = tmp_path / "no-store.sqlite"  # the store the without_clinic_store fixture points at
    save_cohort("north", {"site": ["North"]}, fingerprint="x", db=db, user="boss@clinic.org")
    at = app({"is_logged_in": True, "email": "analyst@clinic.org"})
    at.switch_page("app_pages/research.py").run()
    at.sidebar.multiselect(key="filter_site").set_value(["Central"]).run()
    at.text_input(key="cohort_name").input("north").run()
    at.button(key="save_cohort").click().run()
    assert not at.exception
    assert "belongs to boss@clinic.org" in at.error[-1].value
    saved = list_cohorts(db).set_index("name").loc["north"]
    assert saved["definition"] == '{"site": ["North"]}' and saved["owner"] == "boss@clinic.org"
    trail = list_audit(db)
    assert list(trail["action"]) == ["cohort save", "cohort save refused"]
    assert list(trail["user"]) == ["boss@clinic.org", "analyst@clinic.org"]
    # under their own name the researcher saves, as themselves
    at.text_input(key="cohort_name").input("central").run()
    at.button(key="save_cohort").click().run()
    assert list_cohorts(db).set_index("name").loc["central", "owner"] == "analyst@clinic.org"
