"""Glossary: one sentence for every term the dashboard uses."""
from __future__ import annotations

import streamlit as st

from analytics.definitions import SMALL_CELL_MAX, SPEC_VERSION
from analytics.wording import GLOSSARY
from app_pages.common import footer

st.title("Glossary")
st.caption(f"The words behind the numbers. Every figure names its n, its definition, its analysis mode and the "
           f"spec version (now v{SPEC_VERSION}); hover the ⓘ beside a figure for the term it uses.")
for term, sentence in GLOSSARY.items():
    st.markdown(f"**{term}.** {sentence}")
st.caption(f"Suppression in this tool hides counts from 1 to {SMALL_CELL_MAX}; zero may be shown. On charts, a "
           f"quarter with {SMALL_CELL_MAX} patients or fewer is drawn as a hollow marker with its n, off the line.")
footer()
