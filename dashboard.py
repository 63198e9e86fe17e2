"""Clinic outcome dashboard: `make run` (or `streamlit run dashboard.py`)."""
import streamlit as st

from app_pages.access import DIRECTOR_ONLY, current_user, signin_configured

st.set_page_config(page_title="Ketamine clinic outcomes", page_icon="📈", layout="wide")

who = current_user()
if who is None:
    st.stop()
st.session_state["user"], st.session_state["role"] = who

pages = [
    st.Page("app_pages/overview.py", title="Overview", icon=":material/monitoring:", default=True),
    st.Page("app_pages/patient.py", title="Patient", icon=":material/person:", url_path="patient"),
    st.Page("app_pages/safety.py", title="Safety", icon=":material/health_and_safety:", url_path="safety"),
    st.Page("app_pages/tolerability.py", title="Tolerability", icon=":material/vaccines:", url_path="tolerability"),
    st.Page("app_pages/trajectories.py", title="Trajectories", icon=":material/timeline:", url_path="trajectories"),
    st.Page("app_pages/research.py", title="Research", icon=":material/science:", url_path="research"),
    st.Page("app_pages/export.py", title="Export", icon=":material/ios_share:", url_path="export"),
    st.Page("app_pages/data.py", title="Data", icon=":material/database:", url_path="data"),
    st.Page("app_pages/glossary.py", title="Glossary", icon=":material/menu_book:", url_path="glossary"),
]
if who[1] != "director":
    pages = [p for p in pages if p.url_path not in DIRECTOR_ONLY]
if signin_configured():
    st.sidebar.caption(f"Signed in as {who[0]} ({who[1]})")
    st.sidebar.button("Sign out", on_click=st.logout, key="sign_out_sidebar")
st.navigation(pages).run()
