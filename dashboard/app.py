"""The Streamlit script of ``hpo dashboard`` (run by Streamlit, not imported by hpo).

The store comes from the environment variable ``HPO_DASHBOARD_STORAGE``, set
by :func:`hpo.dashboard.launch` (never from the page, so a visitor cannot
point the server at another database). The page and the study are query
parameters (``?page=study&study=NAME``, plus ``live=0`` to start without live
refresh and ``every=SECONDS``), so every view has a URL.
"""

from __future__ import annotations

import os

import streamlit as st

from hpo.dashboard import STORAGE_ENV
from hpo.dashboard.pages import PAGES, render
from hpo.dashboard.reader import DashboardReader
from hpo.errors import HpoError

REFRESH_CHOICES = (2, 5, 10, 30, 60)


@st.cache_resource(show_spinner=False)
def _reader(storage: str) -> DashboardReader:
    """One read-only reader per store and server process (its trial frames are shared by sessions)."""
    return DashboardReader(storage)


def main() -> None:
    st.set_page_config(page_title="hpo dashboard", layout="wide")
    storage = os.environ.get(STORAGE_ENV)
    if not storage:
        st.error(f"No store: start the dashboard with `hpo dashboard --storage URL` (or set {STORAGE_ENV}).")
        return
    try:
        reader = _reader(storage)
        summaries = reader.store.list_studies()
    except HpoError as exc:
        st.error(str(exc))
        return

    params = st.query_params
    keys = list(PAGES)
    asked_page = params.get("page", "studies")
    names = [s.name for s in summaries]
    asked = params.get("study")
    if asked_page not in keys or (asked is not None and asked not in names):
        # A URL that names what does not exist: say so, list what does, and neither switch nor rewrite the URL.
        if asked_page not in keys:
            st.error(f"No page {asked_page!r} (from `?page=`): the pages are "
                     + ", ".join(f"`{k}` ({v})" for k, v in PAGES.items()) + ".")
        else:
            st.error(f"No study {asked!r} (from `?study=`) in this store. Its studies: "
                     + (", ".join(f"`{n}`" for n in names) if names else "none") + ".")
        try:
            render("studies", reader, None)
        except HpoError as exc:
            st.error(str(exc))
        return
    page = st.sidebar.radio("Page", keys, index=keys.index(asked_page) if asked_page in keys else 0,
                            format_func=PAGES.__getitem__, key="page")
    study = None
    if summaries:
        # Default: the study asked for in the URL, else the one with the latest activity.
        latest = max(range(len(names)), key=lambda i: (summaries[i].last_activity is not None,
                                                       summaries[i].last_activity or 0, i))
        study = st.sidebar.selectbox("Study", names, index=names.index(asked) if asked in names else latest,
                                     key="study")
    live = st.sidebar.toggle("Live refresh", value=params.get("live", "1") != "0", key="live",
                             help="Re-read the store on a timer while a study runs "
                                  "(only trials that changed are read).")
    asked_every = params.get("every", "5")
    every = st.sidebar.select_slider("Every (seconds)", REFRESH_CHOICES, key="every", disabled=not live,
                                     value=int(asked_every) if asked_every in {str(c) for c in REFRESH_CHOICES} else 5)
    st.sidebar.caption(f"store: `{reader.url}` (read-only)")
    params["page"] = page
    if study is not None and page != "studies":
        params["study"] = study

    @st.fragment(run_every=every if live else None)
    def body() -> None:
        try:
            render(page, reader, study)
        except HpoError as exc:
            st.error(str(exc))

    body()


main()
