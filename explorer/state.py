"""Per-user state: the chosen checkpoint, the picked faces (kept on disk per checkpoint) and page settings that
survive page switches.

Picks live here only: the face grids (explorer/face_picker.py) draw each face's picked flag from them on every run
and report clicks as events, so clearing or removing a pick needs nothing more than changing this dict.
"""
from __future__ import annotations

import re

import numpy as np
import streamlit as st

from explorer.faces import Face
from gan import paths
from gan.records import read_json, write_json_atomic

CKPT_KEY = "app_ckpt"  # selectbox in the sidebar: path of the chosen generator checkpoint
PICKS_KEY = "app_picks"  # {face.key: Face}, insertion-ordered
SETTINGS_KEY = "app_page_settings"  # {widget key: value} of every page's settings, kept across page switches
MAX_PICKS = 500  # per checkpoint file
_ID_RE = re.compile(r"[0-9A-Za-z_-]{1,64}")


# ----------------------------------------------------------------------------- picks on disk

def picks_dir():
    """workspace/picks/: one JSON file of picked faces per checkpoint id."""
    return paths.workspace_dir() / "picks"


def _face_record(f: Face) -> dict:
    return {"z": np.asarray(f.z, np.float32).tolist(), "c": np.asarray(f.c, np.float32).tolist(), "seed": int(f.seed),
            "index": int(f.index), "names": list(f.names), "origin": f.origin,
            "w": None if f.w is None else np.asarray(f.w, np.float32).tolist()}


def _read_picks(checkpoint: str) -> list[Face]:
    """Faces saved for one checkpoint ([] when none, or the file is damaged)."""
    data = read_json(picks_dir() / f"{checkpoint}.json")
    faces = []
    for r in (data.get("faces") if isinstance(data, dict) else None) or []:
        try:
            w = None if r.get("w") is None else np.asarray(r["w"], np.float32)
            faces.append(Face(np.asarray(r["z"], np.float32), np.asarray(r["c"], np.float32), int(r["seed"]),
                              int(r["index"]), checkpoint, tuple(str(n) for n in r["names"]), str(r.get("origin", "")),
                              w=w))
        except (KeyError, TypeError, ValueError):  # a damaged entry: skip it, keep the rest
            continue
    return faces[:MAX_PICKS]


def _save_picks(checkpoint: str) -> None:
    if not _ID_RE.fullmatch(checkpoint or ""):
        return
    faces = [_face_record(f) for f in picks().values() if f.checkpoint == checkpoint][:MAX_PICKS]
    try:
        write_json_atomic(picks_dir() / f"{checkpoint}.json", {"checkpoint": checkpoint, "faces": faces})
    except OSError:  # a read-only workspace: picks still work for this session
        pass


def picks() -> dict[str, Face]:
    """Picked faces of this session (all checkpoints), loaded from disk on a session's first call."""
    if PICKS_KEY not in st.session_state:
        loaded: dict[str, Face] = {}
        d = picks_dir()
        for p in sorted(d.glob("*.json")) if d.is_dir() else []:
            if _ID_RE.fullmatch(p.stem):
                loaded.update({f.key: f for f in _read_picks(p.stem)})
        st.session_state[PICKS_KEY] = loaded
    return st.session_state[PICKS_KEY]


def picked_for(checkpoint: str) -> list[Face]:
    """Picked faces made by one checkpoint (latents of another model mean nothing here)."""
    return [f for f in picks().values() if f.checkpoint == checkpoint]


def set_picked(faces: list[Face], on: set[str]) -> None:
    """Pick the faces whose key is in `on`, unpick the others; each checkpoint's picks file is written once."""
    for face in faces:
        if face.key in on:
            picks()[face.key] = face
        else:
            picks().pop(face.key, None)
    for checkpoint in {f.checkpoint for f in faces}:
        _save_picks(checkpoint)


def clear_picks() -> None:
    """Forget every pick (on disk too)."""
    ckpts = {f.checkpoint for f in picks().values()}
    picks().clear()
    for ck in ckpts:
        _save_picks(ck)


def unpick(face_key: str) -> None:
    """Remove one face from the picks."""
    face = picks().pop(face_key, None)
    if face is not None:
        _save_picks(face.checkpoint)


# ----------------------------------------------------------------------------- page settings across page switches

_KEEP_TYPES = {"bool_value", "int_value", "double_value", "string_value", "int_array_value", "double_array_value",
               "string_array_value"}  # value widgets; buttons, uploads and chart selections cannot be set back


def _widget_value_types() -> dict[str, str]:
    """{widget key: value type} of the widgets Streamlit knows in this session ({} if its internals changed)."""
    try:
        from streamlit.runtime.state import get_session_state

        s = get_session_state()._state
        ids, meta = s._key_id_mapper._key_id_mapping, s._new_widget_state.widget_metadata
        return {k: meta[i].value_type for k, i in ids.items() if i in meta}
    except (AttributeError, KeyError, ImportError, RuntimeError):
        return {}


def _plain(v) -> bool:
    if isinstance(v, (list, tuple)):
        return all(isinstance(x, (str, int, float, bool)) for x in v)
    return isinstance(v, (str, int, float, bool))


def keep_page_settings() -> None:
    """Called by the entry script before a page runs: remember every value widget's setting and put back the ones of
    pages not drawn last time (Streamlit drops a widget's state when a run does not draw it, e.g. after a page
    switch). Face grids are not value widgets: picks have their own state."""
    saved: dict = st.session_state.setdefault(SETTINGS_KEY, {})
    for k, typ in _widget_value_types().items():
        if typ in _KEEP_TYPES and k != CKPT_KEY and k in st.session_state:
            v = st.session_state[k]
            if _plain(v):
                saved[k] = v
    for k, v in saved.items():
        if k not in st.session_state:
            st.session_state[k] = v


def forget_setting(key: str) -> None:
    """Drop a kept page setting (a page that resets a widget itself, e.g. a fresh run name after a start)."""
    st.session_state.get(SETTINGS_KEY, {}).pop(key, None)
