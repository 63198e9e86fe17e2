"""Clinic outcome dashboard: `make run` (or `streamlit run dashboard.py`)."""
import streamlit as st

st.set_page_config(page_title="Ketamine clinic outcomes", page_icon=":material/monitoring:", layout="wide")

pages = [
    st.Page("app_pages/overview.py", title="Overview", icon=":material/monitoring:", default=True),
    st.Page("app_pages/patient.py", title="Patient", icon=":material/person:", url_path="patient"),
    st.Page("app_pages/safety.py", title="Safety", icon=":material/health_and_safety:", url_path="safety"),
    st.Page("app_pages/trajectories.py", title="Trajectories", icon=":material/timeline:", url_path="trajectories"),
    st.Page("app_pages/research.py", title="Research", icon=":material/science:", url_path="research"),
    st.Page("app_pages/export.py", title="Export", icon=":material/ios_share:", url_path="export"),
    st.Page("app_pages/data.py", title="Data", icon=":material/database:", url_path="data"),
]
st.navigation(pages).run()
