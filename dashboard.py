"""Clinic outcome dashboard: `make run` (or `streamlit run dashboard.py`)."""
import streamlit as st

st.set_page_config(page_title="Ketamine clinic outcomes", page_icon=":material/monitoring:", layout="wide")

pages = [
    st.Page("app_pages/overview.py", title="Overview", icon=":material/monitoring:", default=True),
]
st.navigation(pages).run()
