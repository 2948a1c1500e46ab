"""Join a class (learners): type the instructor's join code (or open the QR code's link), optionally a
nickname, then predict on your own device; the view updates by itself when the presenter reveals the
simulator's answer or asks the next question. No account: the app knows you by a random id only."""

import streamlit as st

from pages import common
from pages import live_class
from quiz import classroom as cr

common.reroute_first_visit()  # first, on every run: a fresh server's first visits go through app.py's router

st.title("Join a class")
st.markdown("Your instructor shows a **join code** (or a QR code that opens this page with it). Type it, "
            "add a nickname if you like (the presenter sees nicknames, never who you are), and predict.")

code_in = st.query_params.get("code", "")
with st.form("class_join", border=True):
    code = st.text_input("Join code", value=code_in[:16], max_chars=16, placeholder="e.g. K7QF3M",
                         help="Six letters and digits; case does not matter.")
    nickname = st.text_input("Nickname (optional)", max_chars=cr.MAX_NICKNAME, key="class_nickname",
                             help="Shown to the presenter as plain text; leave it empty to stay anonymous.")
    joined = st.form_submit_button("Join", type="primary", icon=":material/login:")

if joined:
    try:
        st.session_state["class_joined"] = cr.normalise_code(code)
        st.query_params["code"] = st.session_state["class_joined"]
    except cr.ClassError as e:
        st.warning(e.message)
elif "class_joined" not in st.session_state and code_in:
    try:  # the QR code's link carries the code: join straight away
        st.session_state["class_joined"] = cr.normalise_code(code_in)
    except cr.ClassError as e:
        st.warning(e.message)

joined_code = st.session_state.get("class_joined")
if joined_code:
    st.subheader(f"Class {joined_code}")
    live_class.learner_live(joined_code, st.session_state.get("class_nickname", ""))
    st.divider()
    st.markdown("Practise with the quiz as part of this class (your answers are saved under a random id):")
    common.page_link("quiz", label="Quiz for this class", query_params={"class": joined_code})
