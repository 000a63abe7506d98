"""A grid of faces drawn as one browser element: click a face to pick it, captions under each, identity on hover.

Drawing 32 faces as 32 st.image + 32 st.checkbox elements cost the browser 3-4× what a one-image page costs per
rerun (bench/bench_latency.py); this grid is one st.components.v2 element with the images inlined, so a new grid
is one message and no image requests. The server stays the source of truth: every render sends each face's
picked flag; a click flips the face at once on screen and sends an event {seq, keys (picked in this grid),
grid (every key of this grid)}, which `apply_event` turns into one state.set_picked call, once per event (by seq):
in the on-change callback, and at the start of every run for every grid drawn before (`apply_events`, called by the
entry script before the sidebar counts the picks; this is also how AppTest drives a grid, through
st.session_state[key], where callbacks do not fire).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import streamlit as st

from explorer import loaders, state
from explorer.faces import Face

CSS = """
.fg { display: grid; grid-template-columns: repeat(var(--cols), minmax(0, 1fr)); gap: 0.5rem; }
.fg .label { font-size: 0.8rem; font-weight: 600; text-align: center; }
.fg button { all: unset; box-sizing: border-box; cursor: pointer; border-radius: 0.4rem; padding: 3px;
  border: 3px solid transparent; display: flex; flex-direction: column; min-width: 0; }
.fg button:hover { border-color: rgba(128, 128, 128, 0.4); }
.fg button:focus-visible { outline: 2px solid var(--st-primary-color, #ff4b4b); }
.fg button[aria-pressed="true"] { border-color: var(--st-primary-color, #ff4b4b); }
.fg img { width: 100%; image-rendering: pixelated; border-radius: 0.2rem; }
.fg .cap { font-size: 0.72rem; line-height: 1.2; opacity: 0.75; overflow-wrap: anywhere; margin-top: 2px; }
.fg .tick { font-size: 0.72rem; font-weight: 600; color: var(--st-primary-color, #ff4b4b); height: 1.1rem;
  line-height: 1.1rem; }
"""

JS = """
export default function(component) {
  const { data, setStateValue, parentElement } = component;
  const root = parentElement.querySelector('.fg');
  root.style.setProperty('--cols', data.cols);
  root.replaceChildren();
  for (const label of data.col_labels || []) {
    const d = document.createElement('div'); d.className = 'label'; d.textContent = label; root.appendChild(d);
  }
  const buttons = data.items.map((it) => {
    const b = document.createElement('button');
    b.type = 'button'; b.title = it.title; b.dataset.key = it.key;
    b.setAttribute('aria-pressed', it.picked ? 'true' : 'false');
    b.setAttribute('aria-label', (data.pickable ? 'pick ' : '') + it.caption);
    const tick = document.createElement('div'); tick.className = 'tick'; tick.textContent = it.picked ? '✓ picked' : '';
    const img = document.createElement('img'); img.src = it.src; img.alt = it.caption;
    const cap = document.createElement('div'); cap.className = 'cap'; cap.textContent = it.caption;
    b.append(tick, img, cap);
    root.appendChild(b);
    return b;
  });
  if (!data.pickable) { buttons.forEach((b) => { b.disabled = true; b.style.cursor = 'default'; }); return; }
  buttons.forEach((b) => b.addEventListener('click', () => {
    const on = b.getAttribute('aria-pressed') !== 'true';
    b.setAttribute('aria-pressed', on ? 'true' : 'false');
    b.querySelector('.tick').textContent = on ? '✓ picked' : '';
    const keys = buttons.filter((x) => x.getAttribute('aria-pressed') === 'true').map((x) => x.dataset.key);
    setStateValue('picked', { seq: `${Date.now()}-${Math.random()}`, keys, grid: buttons.map((x) => x.dataset.key) });
  }));
}
"""

_grid = st.components.v2.component("face_picker", html='<div class="fg"></div>', css=CSS, js=JS)


def _faces_key(key: str) -> str:
    return f"{key}__faces"  # {face.key: Face} of the grid last drawn under `key`


def _seq_key(key: str) -> str:
    return f"{key}__seq"  # seq of the last event applied


GRIDS_KEY = "face_picker_grids"  # keys of the grids drawn in this session


def apply_event(key: str) -> None:
    """Turn the grid's last click event into picks, once per event (a repeated seq is ignored)."""
    value = st.session_state.get(key)
    event = value.get("picked") if isinstance(value, dict) else None
    if not isinstance(event, dict) or event.get("seq") in (None, st.session_state.get(_seq_key(key))):
        return
    st.session_state[_seq_key(key)] = event["seq"]
    faces: dict[str, Face] = st.session_state.get(_faces_key(key), {})
    keys, grid = event.get("keys"), event.get("grid")
    if not isinstance(keys, list) or not isinstance(grid, list):
        return
    on = {k for k in keys if isinstance(k, str)}
    state.set_picked([faces[k] for k in grid if isinstance(k, str) and k in faces], on)


def apply_events() -> None:
    """Apply every drawn grid's pending click event (the entry script calls this before anything shows picks)."""
    for key in st.session_state.get(GRIDS_KEY, ()):
        apply_event(key)


def face_picker(faces: list[Face], images: np.ndarray, ncols: int, key: str, pickable: bool = True,
                col_labels: Sequence[str] | None = None, captions: Sequence[str] | None = None) -> None:
    """Draw `faces` (images (N, H, W, 3) uint8) in `ncols` columns under `key`; clicks pick and unpick them."""
    st.session_state.setdefault(GRIDS_KEY, set()).add(key)
    st.session_state[_faces_key(key)] = {f.key: f for f in faces}
    picks = state.picks()
    captions = list(captions) if captions is not None else [f.caption() for f in faces]
    items = [{"key": f.key, "src": src, "caption": cap, "title": f.identity(), "picked": f.key in picks}
             for f, src, cap in zip(faces, loaders.data_uris(np.asarray(images)), captions)]
    _grid(data={"cols": int(ncols), "col_labels": list(col_labels or []), "items": items, "pickable": pickable},
          key=key, default={"picked": None}, on_picked_change=lambda: apply_event(key))

