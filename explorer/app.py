"""Entry script: `streamlit run explorer/app.py` — frames the app (checkpoint picker) and routes to the pages in ../pages."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run explorer/app.py` puts explorer/, not the repo root, on sys.path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from explorer import face_picker, state, widgets  # noqa: E402
from gan.device import configure_threads  # noqa: E402

configure_threads()  # GAN_THREADS caps torch's threads (several apps or tests side by side)

PAGES = ROOT / "pages"  # top-level pages/ by absolute path: a pages/ folder next to this script would misroute


def page(file: str, title: str, icon: str, default: bool = False) -> st.Page:
    return st.Page(str(PAGES / file), title=title, icon=icon, default=default)


st.set_page_config(page_title="Face-GAN explorer", page_icon=":material/face:", layout="wide")

nav = st.navigation({
    "Explore": [
        page("generate.py", "Generate", ":material/tune:", default=True),
        page("arithmetic.py", "Arithmetic", ":material/functions:"),
        page("directions.py", "Directions", ":material/explore:"),
        page("edit.py", "Edit", ":material/auto_fix_high:"),
        page("style_mixing.py", "Style mixing", ":material/blender:"),
        page("interpolate.py", "Interpolate", ":material/timeline:"),
        page("latent_map.py", "Latent map", ":material/scatter_plot:"),
    ],
    "Measure": [
        page("metrics.py", "Metrics", ":material/monitoring:"),
    ],
    "Train": [page("trainer.py", "Trainer", ":material/model_training:"),
              page("project.py", "Project", ":material/photo_camera:")],
    "Data": [
        page("workspace.py", "Workspace", ":material/folder_open:"),
    ],
})
state.keep_page_settings()  # each page's settings survive switching to another page and back
face_picker.apply_events()  # clicks on face grids become picks before the sidebar counts them
widgets.checkpoint_sidebar()
nav.run()
