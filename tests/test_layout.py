"""Layering rules that a grep can check: pages talk to explorer/ only, Streamlit caches live in one module, and
importing the library has no process-wide side effects."""
from __future__ import annotations

import importlib
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_pages_import_only_explorer():
    offenders = [f"{p.name}:{i + 1}" for p in sorted((ROOT / "pages").glob("*.py"))
                 for i, line in enumerate(p.read_text().splitlines()) if re.search(r"^\s*(from gan\b|import gan\b)", line)]
    assert not offenders, offenders


def test_streamlit_caches_live_in_the_loaders_module():
    offenders = [str(p.relative_to(ROOT)) for folder in ("explorer", "pages") for p in sorted((ROOT / folder).glob("*.py"))
                 if p.name != "loaders.py" and re.search(r"@st\.cache_(data|resource)", p.read_text())]
    assert not offenders, offenders


def test_importing_the_atomic_writer_leaves_the_umask_alone(monkeypatch):
    import gan.atomic

    calls = []
    real = os.umask
    monkeypatch.setattr(os, "umask", lambda mask: calls.append(mask) or real(mask))
    importlib.reload(gan.atomic)
    assert calls == []
