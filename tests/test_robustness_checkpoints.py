"""Threat: hostile or broken checkpoint files — foreign, truncated, pickled code, forged metadata, outside the allowed folders.

Already proved elsewhere (not repeated here):
  tests/test_checkpoint.py::test_refuses_pickled_code            pickled code refused, payload never runs
  tests/test_checkpoint.py::test_refuses_truncated_foreign_and_missing
  tests/test_checkpoint.py::test_allowed_roots_follow_symlinks    symlink escape refused by load_generator
  tests/test_checkpoint.py::test_check_compatible_names_the_difference
  tests/test_app_pages.py::test_broken_checkpoint_is_not_offered  a text file posing as a checkpoint
Issue 13 class 2: stride-0 (expand) tensors, complex weights, caps on sizes, label values and counts, step = inf,
duplicate names, and classifier / encoder checkpoints checked before they are built.
Here: every forged field is a CheckpointError (never a crash or a silent load), fine-tuning from another
attribute set / architecture fails with a message and writes nothing, and the app neither offers nor runs any of it.
"""
from __future__ import annotations

import json
import os
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
import streamlit as st
import torch
from streamlit.testing.v1 import AppTest

from explorer.demo import make_tiny_generator
from gan import paths
from gan.checkpoint import CheckpointError, load_checkpoint, load_generator, save_checkpoint
from gan.models import ModelConfig
from gan.train import TrainConfig, train

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "explorer" / "app.py")


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    return make_tiny_generator(tmp_path_factory.mktemp("ck") / "good.pt")


def _forge(good: Path, dst: Path, **fields) -> Path:
    ck = load_checkpoint(good)
    ck.update(fields)
    return save_checkpoint(dst, ck)


class Evil:
    """Unpickling this would create the marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


FORGERIES = {
    # name: fields replaced in a good checkpoint (built lazily: some need the good checkpoint's values)
    "label table of another width": lambda ck: dict(label_rows=torch.zeros(3, 7, dtype=torch.uint8),
                                                    label_counts=torch.ones(3, dtype=torch.int64)),
    "label counts of another length": lambda ck: dict(label_counts=torch.ones(1, dtype=torch.int64)),
    "unsupported resolution": lambda ck: dict(model_config={**ck["model_config"], "img_resolution": 33}),
    "model_config not a dict": lambda ck: dict(model_config=[1, 2]),
    "attribute names not strings": lambda ck: dict(attribute_names=[1, 2, 3, 4]),
    "attribute names one string": lambda ck: dict(attribute_names="abcd"),
    "G_ema not a state dict": lambda ck: dict(G_ema=[1, 2]),
    "format_version not a number": lambda ck: dict(format_version="x"),
    "step not a number": lambda ck: dict(step="abc"),
    "unknown upsampling": lambda ck: dict(model_config={**ck["model_config"], "g_upsample": "evil"}),
    "other architecture (ngf)": lambda ck: dict(model_config={**ck["model_config"], "ngf": 16}),
    "huge architecture (memory bomb)": lambda ck: dict(model_config={**ck["model_config"], "ngf": 10 ** 6}),
    "NaN weights": lambda ck: dict(G_ema={k: v * float("nan") if v.is_floating_point() else v
                                          for k, v in ck["G_ema"].items()}),
    # Issue 13, class 2: loadable files whose fields lie.
    "label table of 10**9 rows made with expand (stride 0)": lambda ck: dict(
        label_rows=torch.zeros(1, len(ck["attribute_names"]), dtype=torch.uint8).expand(10 ** 9, -1),
        label_counts=torch.ones(1, dtype=torch.int64).expand(10 ** 9)),
    "weights made with expand (stride 0)": lambda ck: dict(G_ema={k: torch.zeros(1).expand(v.shape) if v.ndim > 1 else v
                                                                  for k, v in ck["G_ema"].items()}),
    "complex weights": lambda ck: dict(G_ema={k: v.to(torch.complex64) if v.is_floating_point() else v
                                              for k, v in ck["G_ema"].items()}),
    "label counts all zero": lambda ck: dict(label_counts=torch.zeros_like(ck["label_counts"])),
    "label counts negative": lambda ck: dict(label_counts=-torch.ones_like(ck["label_counts"])),
    "label value 255": lambda ck: dict(label_rows=torch.full_like(ck["label_rows"], 255)),
    "label rows of floats": lambda ck: dict(label_rows=ck["label_rows"].float() + 0.5),
    "step = inf": lambda ck: dict(step=float("inf")),
    "step negative": lambda ck: dict(step=-5),
    "format_version 1.5": lambda ck: dict(format_version=1.5),
    "duplicate attribute names": lambda ck: dict(attribute_names=[ck["attribute_names"][0]] * len(ck["attribute_names"])),
    "attribute name of 10**6 characters": lambda ck: dict(attribute_names=["x" * 10 ** 6] + ck["attribute_names"][1:]),
    "d_mbstd negative": lambda ck: dict(model_config={**ck["model_config"], "d_mbstd": -1}),
    "spectral_norm not a bool": lambda ck: dict(model_config={**ck["model_config"], "spectral_norm": "yes"}),
    "g_dropout NaN": lambda ck: dict(model_config={**ck["model_config"], "g_dropout": float("nan")}),
}


@pytest.mark.parametrize("case", list(FORGERIES))
def test_forged_fields_are_a_checkpoint_error_never_a_crash(good, tmp_path, case):
    path = _forge(good, tmp_path / "forged.pt", **FORGERIES[case](load_checkpoint(good)))
    with pytest.raises(CheckpointError) as e:
        load_generator(path)
    assert str(path) in str(e.value)  # the message names the file ...
    assert len(str(e.value)) < 1000   # ... and stays readable


def test_a_forged_pickle_calling_an_allowed_constructor_wrongly_is_a_checkpoint_error(good, tmp_path):
    """A valid zip whose data.pkl calls OrderedDict(1, 2, 3): torch.load raises TypeError, which must become the
    one CheckpointError message (the checkpoint picker and every CLI rely on it)."""
    payload = b"\x80\x02ccollections\nOrderedDict\nq\x00(K\x01K\x02K\x03tq\x01Rq\x02."
    forged = tmp_path / "forged_pickle.pt"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(forged, "w", compression=zipfile.ZIP_STORED) as zout:
        for name in zin.namelist():
            zout.writestr(name, payload if name.endswith("/data.pkl") else zin.read(name))
    with pytest.raises(CheckpointError, match=r"truncated or corrupt \(TypeError"):
        load_checkpoint(forged)


def test_z_dim_over_the_limit_is_refused_before_building(tmp_path):
    """A real (not forged) generator with z_dim 5000: over MAX_LATENT, refused by name, whatever its weights."""
    path = make_tiny_generator(tmp_path / "wide_z.pt", z_dim=5000)
    with pytest.raises(CheckpointError, match=r"model_config.z_dim.*\[1, 4096\]"):
        load_generator(path)


def test_forged_classifier_and_encoder_in_the_workspace_are_refused_before_building(tmp_path, monkeypatch):
    """Classifier / encoder checkpoints found by default_*_for (workspace, runs/) are checked field by field and
    weight by weight before a network is built: stride-0 weights and 300 attributes are refused, never chosen."""
    from explorer.demo import DEMO_ATTRIBUTES, make_tiny_classifier
    from gan.encoder import EncoderConfig, EncoderNet, default_encoder_for, load_encoder
    from gan.metrics.classifier import default_classifier_for, load_classifier

    ws = paths.workspace_dir()
    ws.mkdir(parents=True)
    gpath = make_tiny_generator(tmp_path / "g.pt")
    gen = load_generator(gpath)
    good_c = make_tiny_classifier(tmp_path / "good_classifier.pt")
    ck = load_checkpoint(good_c)
    ck["model"] = {k: torch.zeros(1).expand(v.shape) if v.ndim > 1 else v for k, v in ck["model"].items()}
    forged_c = save_checkpoint(ws / "forged_classifier.pt", ck)
    with pytest.raises(CheckpointError, match="stride-0"):
        load_classifier(forged_c)
    assert default_classifier_for(gen, search=[ws]) in (None, paths.DEFAULT_CLASSIFIER)

    many = tuple(f"a{i}" for i in range(300)) + DEMO_ATTRIBUTES
    wide = make_tiny_classifier(tmp_path / "many_classifier.pt", names=many)
    with pytest.raises(CheckpointError, match="at most 256"):
        load_classifier(wide)

    cfg = EncoderConfig(img_resolution=gen.img_resolution, z_dim=gen.z_dim, c_dim=gen.c_dim, width=8)
    enc = {"format_version": 1, "kind": "encoder", "model_config": cfg.__dict__, "train_config": {},
           "attribute_names": list(gen.attribute_names),
           "model": {k: torch.zeros(1).expand(v.shape) if v.ndim > 1 else v for k, v in EncoderNet(cfg).state_dict().items()},
           "generator": {"sha256": gen.sha256, "weights_sha256": gen.weights_sha256}, "metrics": {}}
    runs = paths.runs_dir()
    runs.mkdir(parents=True)
    forged_e = save_checkpoint(runs / "forged_encoder.pt", enc)
    with pytest.raises(CheckpointError, match="stride-0"):
        load_encoder(forged_e, gen)
    assert default_encoder_for(gen, search=[runs]) in (None, paths.DEFAULT_ENCODER)


def test_pickled_code_inside_a_real_zip_checkpoint_never_runs(good, tmp_path):
    """Not just a bare pickle: a complete-looking checkpoint with one poisoned entry."""
    marker = tmp_path / "pwned"
    ck = load_checkpoint(good)
    ck["metrics_history"] = [Evil(marker)]
    path = tmp_path / "poisoned.pt"
    torch.save(ck, path)  # torch.save pickles the object; weights_only loading must refuse it
    with pytest.raises(CheckpointError, match="arbitrary Python objects"):
        load_generator(path)
    assert not marker.exists()


def test_fine_tuning_from_another_attribute_set_or_architecture_fails_cleanly(tmp_path):
    """train(init=…) with a checkpoint over other attributes / another width: CheckpointError naming the
    difference, status.json 'failed' with that message, and no checkpoint written in the new run."""
    import numpy as np

    from gan.data.cache import write_cache

    rng = np.random.default_rng(0)
    cache = write_cache(tmp_path / "cache", rng.integers(0, 255, (24, 32, 32, 3), dtype=np.uint8),
                        rng.integers(0, 2, (24, 2), dtype=np.uint8), np.zeros(24, np.uint8),
                        [f"t{i}" for i in range(24)], {"source": "t", "crop": None, "attribute_names": ["Smiling", "Male"]})
    base = TrainConfig(data=f"cache:{cache}", size=32, steps=2, batch=8, log_every=1, progress=False,
                       model=ModelConfig(ngf=8, ndf=8, c_embed_dim=8))
    other_attrs = make_tiny_generator(tmp_path / "four_attrs.pt")  # Eyeglasses, Male, Smiling, Young
    out = tmp_path / "run_attrs"
    with pytest.raises(CheckpointError, match="attributes differ"):
        train(replace(base, out=str(out), init=str(other_attrs)))
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "failed" and "attributes differ" in status["message"]
    assert not (out / "checkpoint.pt").exists()

    other_arch = make_tiny_generator(tmp_path / "wide.pt", names=("Smiling", "Male"), ngf=16)
    out = tmp_path / "run_arch"
    with pytest.raises(CheckpointError, match="architecture differs"):
        train(replace(base, out=str(out), init=str(other_arch)))
    assert json.loads((out / "status.json").read_text())["state"] == "failed"
    assert not (out / "checkpoint.pt").exists()


# ----------------------------------------------------------------------------- the app

def _app(monkeypatch, env_ckpt: Path | None) -> AppTest:
    if env_ckpt is None:
        monkeypatch.delenv("GAN_CKPT", raising=False)
    else:
        monkeypatch.setenv("GAN_CKPT", str(env_ckpt))
    monkeypatch.setattr(paths, "DEFAULT_CHECKPOINT", Path("/nonexistent/default.pt"))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    return at


def test_app_offers_no_hostile_checkpoint_and_runs_none(good, tmp_path, monkeypatch):
    """runs/ holds: pickled code, a truncated file, a foreign dict, a symlink to a good checkpoint outside every
    allowed folder. The picker offers none of them, the page explains how to train, the payload never runs."""
    marker = tmp_path / "pwned"
    runs = paths.runs_dir()
    for name in ("evil", "cut", "foreign", "escape"):
        (runs / name).mkdir(parents=True)
    torch.save({"format_version": 1, "kind": "generator", "x": Evil(marker)}, runs / "evil" / "checkpoint.pt")
    data = good.read_bytes()
    (runs / "cut" / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    torch.save({"weights": torch.zeros(3)}, runs / "foreign" / "checkpoint.pt")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "g.pt").write_bytes(data)
    (runs / "escape" / "checkpoint.pt").symlink_to(outside / "g.pt")
    at = _app(monkeypatch, None)
    assert not at.exception, [e.value for e in at.exception]
    assert any("No generator checkpoint" in w.value for w in at.sidebar.warning)
    assert any("python -m gan train" in i.value for i in at.info)
    assert not marker.exists()


def test_app_says_what_is_wrong_with_a_forged_checkpoint_and_stays_usable(good, tmp_path, monkeypatch):
    """A checkpoint whose header reads fine but whose weights do not fit: the picker may list it, the page shows
    a clear error instead of a traceback, and switching to a good checkpoint works in the same session."""
    runs = paths.runs_dir()
    (runs / "forged").mkdir(parents=True)
    _forge(good, runs / "forged" / "checkpoint.pt", model_config={**load_checkpoint(good)["model_config"], "ngf": 16})
    at = _app(monkeypatch, runs / "forged" / "checkpoint.pt")
    assert not at.exception, [e.value for e in at.exception]
    assert at.error and "Cannot load checkpoint" in at.error[0].value and "do not fit" in at.error[0].value
    (runs / "good").mkdir()
    (runs / "good" / "checkpoint.pt").write_bytes(good.read_bytes())
    st.cache_data.clear()
    at.run()
    picker = at.sidebar.selectbox[0]
    picker.select(str((runs / "good" / "checkpoint.pt").resolve())).run()
    assert not at.exception and not at.error
    assert list(at.get("image")), "faces render from the good checkpoint"
