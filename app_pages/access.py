"""Who may see the data.

* No sign-in configured (no ``[auth]`` in ``.streamlit/secrets.toml``): the
  dashboard shows data only when it serves on loopback (127.0.0.1 / ::1) and
  the visitor is on this machine; started on any other address, or reached
  through a reverse proxy (a request carrying ``X-Forwarded-For``,
  ``X-Forwarded-Host``, ``X-Real-IP`` or ``Forwarded``: it came from elsewhere),
  it refuses and explains how to configure sign-in.
* Sign-in configured: Streamlit's OIDC sign-in (``st.login``), then an
  allow-list (``[access] allowed_emails`` / ``allowed_domains``) of *verified*
  addresses (an ID token whose ``email_verified`` is not true is refused).  Roles:
  ``directors`` see everything; ``researchers`` (and anyone allowed but not
  given a role: least privilege) see no Patient, Safety, Tolerability, Export or Data page.
"""
from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
#: A request carrying any of these was relayed by a proxy: its visitor is somewhere else.
PROXY_HEADERS = ("x-forwarded-for", "x-forwarded-host", "x-real-ip", "forwarded")
DIRECTOR_ONLY = {"patient", "safety", "tolerability", "export", "data"}
HOW_TO = ("Configure sign-in in `.streamlit/secrets.toml` (see `.streamlit/secrets.example.toml`: an `[auth]` section "
          "for your identity provider and an `[access]` allow-list), or serve on 127.0.0.1 only.")


def signin_configured() -> bool:
    """True when ``.streamlit/secrets.toml`` has an ``[auth]`` section (no secrets file at all: False)."""
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, StreamlitSecretNotFoundError):
        return False


def _host(value: str | None) -> str:
    value = (value or "").strip()
    if value.startswith("["):
        return value.split("]")[0] + "]"
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def current_user() -> tuple[str, str] | None:
    """``(user, role)`` for this session, or None after showing why no data can be shown."""
    if not signin_configured():
        address = st.get_option("server.address")
        headers = {k.lower(): v for k, v in st.context.headers.items()} if st.context.headers else {}
        host = _host(headers.get("host"))
        proxied = [h for h in PROXY_HEADERS if h in headers]
        served_openly = bool(headers) and (address not in LOOPBACK or (host and host not in LOOPBACK))
        if served_openly or proxied:
            where = ("through a reverse proxy" if proxied and not served_openly
                     else f"on {address or 'every network address'}")
            st.title("Sign-in required")
            st.error(f"This dashboard is served {where} without sign-in, so it shows no data. " + HOW_TO,
                     icon=":material/lock:")
            return None
        return "local", "director"
    if not st.user.is_logged_in:
        st.title("Ketamine clinic outcomes")
        st.info("Sign in with your clinic account to see the outcome data.", icon=":material/login:")
        st.button("Sign in", on_click=st.login, type="primary", key="sign_in")
        return None
    rules = st.secrets.get("access", {})
    email = str(st.user.get("email") or "").lower()
    if email and not _verified(st.user.get("email_verified")):
        st.title("Access refused")
        st.error(f"Your identity provider has not verified {email}, so it cannot be matched to the allow-list and "
                 "no data are shown. Verify the address with your provider, then sign in again.",
                 icon=":material/block:")
        st.button("Sign out", on_click=st.logout, key="sign_out")
        return None
    emails = {e.lower() for e in rules.get("allowed_emails", [])}
    domains = {d.lower().lstrip("@") for d in rules.get("allowed_domains", [])}
    if not email or (email not in emails and email.split("@")[-1] not in domains):
        st.title("Access refused")
        st.error(f"{email or 'This account'} is not on this clinic's allow-list, so no data are shown. Ask the "
                 "clinic director to add you.", icon=":material/block:")
        st.button("Sign out", on_click=st.logout, key="sign_out")
        return None
    directors = {e.lower() for e in rules.get("directors", [])}
    return email, "director" if email in directors else "researcher"


def _verified(claim) -> bool:
    """``email_verified`` allows the address when true, or when the provider does not send the claim at all.

    Some providers send the claim as the string ``"true"``; anything else (false, "false", null) is unverified.
    """
    if claim is None:
        return True
    return claim is True or (isinstance(claim, str) and claim.strip().lower() == "true")


def may_mark_reviews() -> bool:
    """Only a director marks a patient reviewed on the Safety page (on loopback without sign-in, the local user is
    the director; with sign-in, only the addresses listed under ``[access] directors``)."""
    return st.session_state.get("role") == "director"


def require_director(page: str) -> None:
    """Stop a director-only page for anyone else (navigation already hides it; this guards direct links)."""
    if page in DIRECTOR_ONLY and st.session_state.get("role") != "director":
        st.title("Not available")
        st.warning("This page is for clinic directors. Researchers see Overview, Trajectories and Research.")
        st.stop()
