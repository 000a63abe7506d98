"""Threat: impossible or malformed generation requests — unknown attributes, impossible combinations, NaN latents.

Already proved elsewhere (not repeated here):
  tests/test_app_pages.py::test_generate_text_request_and_unknown_name   a typo on Generate: error with close matches
  tests/test_data_readers.py::test_celeba_unknown_attribute_suggests_close_matches
  tests/test_store.py::test_invalid_latents_refused_nothing_written      NaN / inf latents refused by the store
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from explorer.demo import DEMO_ATTRIBUTES, make_tiny_generator
from explorer.faces import merge_request, request_values
from explorer.store import LatentStore, StoreError
from gan.attributes import ANY, UnknownAttributeError, parse_request, request_from_dict
from gan.checkpoint import load_checkpoint, load_generator, save_checkpoint
from gan.conditions import LabelDistribution
from gan.generate import generate_images

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "explorer" / "app.py")
NAMES = DEMO_ATTRIBUTES  # Eyeglasses, Male, Smiling, Young


@pytest.mark.parametrize("text, suggestion", [("Smilling", "Smiling"), ("eye glasses", "Eyeglasses"),
                                              ("young=1, Mal", "Male"), ("-smile", "Smiling")])
def test_unknown_attribute_lists_close_matches(text, suggestion):
    with pytest.raises(UnknownAttributeError) as e:
        parse_request(text, NAMES)
    assert suggestion in e.value.suggestions and "Did you mean" in str(e.value)
    assert all(n in str(e.value) for n in NAMES)  # and the whole vocabulary


@pytest.mark.parametrize("text", ["x" * 10_000, ",".join(["Smilin"] * 5000), "😀", "'; DROP TABLE x; --", "=1", "-",
                                  "Smiling=2", "Smiling=", "Smiling=maybe", "Male:yes:no", "\x00", "Smiling\u202e"])
def test_malformed_requests_are_value_errors_and_fast(text):
    t0 = time.time()
    with pytest.raises(ValueError) as e:  # UnknownAttributeError is a ValueError
        parse_request(text, NAMES)
    assert time.time() - t0 < 2
    assert len(str(e.value)) < 500  # a pasted essay does not come back as a 10 000-character message
    values, error = merge_request(np.full(len(NAMES), ANY, np.int8), text, NAMES)
    assert error and values.tolist() == [ANY] * len(NAMES)  # the page keeps its controls' request


def test_request_from_dict_refuses_unknown_names_and_values():
    with pytest.raises(UnknownAttributeError):
        request_from_dict({"Bald": 1}, NAMES)
    with pytest.raises(ValueError, match="Bad value"):
        request_from_dict({"Smiling": 5}, NAMES)


def test_impossible_combination_is_reported_and_still_honoured():
    """Only two label vectors were ever seen: all off, all on. Asking for Eyeglasses without Male is impossible."""
    labels = LabelDistribution(np.array([[0, 0, 0, 0], [1, 1, 1, 1]], np.uint8), np.array([5, 5]), NAMES)
    rng = np.random.default_rng(0)
    c, possible = labels.fill(parse_request("Eyeglasses, Male=0", NAMES), 64, rng)
    assert not possible
    assert c.shape == (64, 4) and np.all(c[:, 0] == 1) and np.all(c[:, 1] == 0)  # fixed values honoured
    assert set(np.unique(c[:, 2:])) <= {0.0, 1.0}                                # 'any' ones from the marginals
    c, possible = labels.fill(parse_request("Eyeglasses", NAMES), 8, rng)
    assert possible and np.all(c == 1)                                           # the joint: all on


def test_generate_page_warns_on_an_impossible_combination(tmp_path, monkeypatch):
    path = make_tiny_generator(tmp_path / "g.pt")
    ck = load_checkpoint(path)
    ck["label_rows"] = torch.tensor([[0, 0, 0, 0], [1, 1, 1, 1]], dtype=torch.uint8)
    ck["label_counts"] = torch.tensor([5, 5])
    save_checkpoint(path, ck)
    monkeypatch.setenv("GAN_CKPT", str(path))
    monkeypatch.setenv("GAN_CLASSIFIER", str(tmp_path / "none.pt"))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.warning
    at.radio(key="gen_attr_Eyeglasses").set_value("on")
    at.radio(key="gen_attr_Male").set_value("off")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("No training face has exactly this combination" in w.value for w in at.warning)
    assert list(at.get("image")), "the faces are still drawn"


def test_nan_latents_are_refused_by_the_store_and_by_generation(tmp_path):
    gen = load_generator(make_tiny_generator(tmp_path / "g.pt"))
    z = torch.randn(3, gen.z_dim)
    c = torch.zeros(3, gen.c_dim)
    ok = generate_images(gen.G, z, c)
    assert ok.shape == (3, 32, 32, 3)
    for bad_z, bad_c in ((z.clone().index_fill_(0, torch.tensor([1]), float("nan")), c),
                         (z, c.clone().fill_(float("inf"))), (z.clone().fill_(-float("inf")), c)):
        with pytest.raises(ValueError, match="NaN or infinite"):
            generate_images(gen.G, bad_z, bad_c)
        store = LatentStore(tmp_path / "s.sqlite")
        with pytest.raises(StoreError, match="NaN or infinite"):
            store.add_latents("x", bad_z.numpy(), bad_c.numpy(), NAMES, "ck")
        assert store.list_collections() == []
    # Rows without NaN are unaffected by the check: the same images as before.
    assert np.array_equal(generate_images(gen.G, z, c), ok)


def test_request_values_ignore_unknown_radio_choices():
    assert request_values({"Smiling": "on", "Bald": "on"}, NAMES).tolist() == [ANY, ANY, 1, ANY]
