"""A client-side scrubber for a path of frames: drag the range and the frame follows the mouse, with no round trip
to the server (Streamlit's own slider sends its value only on release, and each value reruns the page); Play loops
the path forward and back in the browser. One st.components.v2 element with the frames inlined."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import streamlit as st

from explorer import loaders

CSS = """
.scrub { display: flex; flex-direction: column; gap: 0.35rem; max-width: var(--size); }
.scrub img { width: var(--size); height: var(--size); image-rendering: pixelated; border-radius: 0.3rem; }
.scrub .row { display: flex; align-items: center; gap: 0.5rem; }
.scrub input[type=range] { flex: 1; accent-color: var(--st-primary-color, #ff4b4b); }
.scrub button { border: 1px solid rgba(128, 128, 128, 0.5); border-radius: 0.4rem; background: transparent;
  color: inherit; padding: 0.15rem 0.6rem; cursor: pointer; font: inherit; }
.scrub .cap { font-size: 0.85rem; opacity: 0.8; }
"""

HTML = """<div class="scrub"><img alt="frame"/><div class="row"><button type="button" class="play">▶ Play</button>
<input type="range" min="0" step="1" aria-label="Scrub the path"/></div><div class="cap" id="frame-caption"></div></div>"""

JS = """
export default function(component) {
  const { data, parentElement } = component;
  const root = parentElement.querySelector('.scrub');
  root.style.setProperty('--size', `${data.size}px`);
  const img = root.querySelector('img'), range = root.querySelector('input'), cap = root.querySelector('.cap');
  const play = root.querySelector('.play');
  const n = data.frames.length;
  range.max = String(n - 1);
  const show = (t) => { range.value = String(t); img.src = data.frames[t]; cap.textContent = data.captions[t]; };
  show(Math.min(Math.max(data.start, 0), n - 1));
  range.oninput = () => show(Number(range.value));
  let timer = null, dir = 1;
  const stop = () => { clearInterval(timer); timer = null; play.textContent = '▶ Play'; };
  play.onclick = () => {
    if (timer) { stop(); return; }
    play.textContent = '⏸ Pause';
    timer = setInterval(() => {
      let t = Number(range.value) + dir;
      if (t < 0 || t >= n) { dir = -dir; t = Number(range.value) + dir; }
      show(Math.min(Math.max(t, 0), n - 1));
    }, data.interval_ms);
  };
  return stop;
}
"""

_scrubber = st.components.v2.component("path_scrubber", html=HTML, css=CSS, js=JS)


def scrubber(frames: np.ndarray, captions: Sequence[str], key: str, start: int = 0, size: int = 256,
             interval_ms: int = 150) -> None:
    """Show frames (S, H, W, 3) uint8 one at a time under a range the user drags, with a Play/Pause loop."""
    _scrubber(data={"frames": loaders.data_uris(np.asarray(frames)), "captions": list(captions), "start": int(start),
                    "size": int(size), "interval_ms": int(interval_ms)}, key=key)
