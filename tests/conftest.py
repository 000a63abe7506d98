"""Shared test setup: keep runs on a private workspace and small thread counts."""
from __future__ import annotations

import os

import pytest
import streamlit as st
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True)
def isolated_workspace(tmp_path, monkeypatch):
    """Every test gets its own workspace, runs folder and store, and empty Streamlit caches (they persist
    across AppTests in one process); nothing touches the user's."""
    monkeypatch.setenv("GAN_WORKSPACE", str(tmp_path / "workspace"))
    monkeypatch.setenv("GAN_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("GAN_STORE", str(tmp_path / "workspace" / "latents.sqlite"))
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()
