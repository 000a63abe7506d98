"""Per-user state kept in st.session_state: the chosen checkpoint and the picked faces."""
from __future__ import annotations

import streamlit as st

from explorer.faces import Face

CKPT_KEY = "app_ckpt"  # selectbox in the sidebar: path of the chosen generator checkpoint
PICKS_KEY = "app_picks"  # {face.key: Face}, insertion-ordered
PICK_MARK = "_pick_"  # in the key of every checkbox that picks a face


def picks() -> dict[str, Face]:
    """Picked faces of this session (all checkpoints); mutate through the helpers below."""
    return st.session_state.setdefault(PICKS_KEY, {})


def picked_for(checkpoint: str) -> list[Face]:
    """Picked faces made by one checkpoint (latents of another model mean nothing here)."""
    return [f for f in picks().values() if f.checkpoint == checkpoint]


def set_picked(face: Face, on: bool) -> None:
    if on:
        picks()[face.key] = face
    else:
        picks().pop(face.key, None)


def sync_pick(widget_key: str, face: Face) -> None:
    """on_change of a pick checkbox: runs before the script, so every part of the page sees the new picks."""
    set_picked(face, bool(st.session_state.get(widget_key)))


def pick_widget_key(prefix: str, face: Face) -> str:
    """Key of the checkbox that picks `face` on a page (page prefix + face id)."""
    return f"{prefix}{PICK_MARK}{face.key}"


def clear_picks() -> None:
    """Forget every pick and untick every pick checkbox (their widget state would re-pick them)."""
    picks().clear()
    for k in list(st.session_state.keys()):
        if isinstance(k, str) and PICK_MARK in k:
            del st.session_state[k]
