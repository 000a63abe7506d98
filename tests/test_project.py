"""Projection: photo → faces → (z, c) → store; the encoder and its generator check; clear errors for bad uploads."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

from explorer.demo import DEMO_ATTRIBUTES, make_tiny_classifier, make_tiny_generator
from explorer.store import LatentStore
from gan import paths
from gan.checkpoint import CheckpointError, load_checkpoint, load_generator, save_checkpoint
from gan.generate import generate_images, sample_z
from gan.models import ModelConfig, build_generator
from gan.pixels import images_to_tensor as to_tensor
from gan.project import PhotoError, load_photo, prepare_photo, project, project_batch, start_latents

APP = str(Path(__file__).resolve().parent.parent / "explorer" / "app.py")
Z_DIM = 16


def varied_generator(path: Path, seed: int = 0) -> Path:
    """A tiny untrained 32×32 generator whose faces actually vary with z: batch-norm statistics measured on its
    own activations (an untouched init has near-constant eval outputs) and a stronger output layer."""
    make_tiny_generator(path, z_dim=Z_DIM, seed=seed)
    ck = load_checkpoint(path)
    G = build_generator(ModelConfig.from_dict(ck["model_config"]))
    G.load_state_dict(ck["G_ema"])
    torch.manual_seed(seed)
    last = G.synthesis.to_rgb if hasattr(G, "synthesis") else G.main[-2]
    last.weight.data *= 4  # the N(0, 0.02) init of the RGB layer draws nearly flat grey images
    for m in G.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
    G.train()
    with torch.no_grad():
        for _ in range(4):
            G(torch.randn(64, Z_DIM), torch.bernoulli(torch.full((64, G.c_dim), 0.5)))
    ck["G"] = ck["G_ema"] = G.state_dict()
    return save_checkpoint(path, ck)


@pytest.fixture(autouse=True)
def one_thread():
    """These models are tiny: one thread is faster than two fighting over a shared CPU (14 s → 0.4 s here)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    return {"gen": varied_generator(root / "gen.pt"), "other": varied_generator(root / "other.pt", seed=1),
            "clf": make_tiny_classifier(root / "clf.pt"), "root": root}


def astronaut_png() -> bytes:
    from skimage import data

    buf = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buf, format="PNG")
    return buf.getvalue()


def png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


# ----------------------------------------------------------------------------- library


def test_projection_recovers_a_generated_face_far_better_than_a_random_start(tiny):
    gen = load_generator(tiny["gen"])
    z_true = sample_z(3, Z_DIM, seed=1)
    c_true = gen.labels.sample(3, np.random.default_rng(1))
    target = generate_images(gen.G, z_true, c_true)                       # (3, 32, 32, 3)
    z_rand = sample_z(3, Z_DIM, seed=99)
    res = project_batch(gen, target, steps=120, z_init=z_rand, c_init=c_true)
    mse = lambda a, b: float(((a.astype(np.float64) - b) ** 2).mean())   # noqa: E731
    start = [mse(generate_images(gen.G, z_rand[i:i + 1], c_true[i:i + 1])[0], target[i]) for i in range(3)]
    for r, s0, t in zip(res, start, target):
        assert mse(r.reconstruction, t) <= 0.5 * s0, (mse(r.reconstruction, t), s0)
        assert r.pixel_error < r.start_pixel_error and r.loss_curve[-1] < r.loss_curve[0]
        assert r.z.shape == (Z_DIM,) and r.c.shape == (len(DEMO_ATTRIBUTES),) and r.start == "given"
    # One face alone gives the same answer as in the batch (each face's loss is its own).
    one = project(gen, target[0], steps=120, z_init=z_rand[:1], c_init=c_true[:1])
    assert np.allclose(one.z, res[0].z, atol=1e-4)
    # optimise_c keeps c inside [0, 1].
    rc = project(gen, target[1], steps=30, optimise_c=True)
    assert rc.c.min() >= 0 and rc.c.max() <= 1 and rc.start == "seed"  # the tiny style G: a fixed prior draw, not z = 0


def test_encoder_trains_gives_the_start_and_refuses_another_generator(tiny, tmp_path, capsys):
    from gan.__main__ import main
    from gan.encoder import load_encoder

    out = tmp_path / "enc.pt"
    rc = main(["encoder", "train", "--ckpt", str(tiny["gen"]), "--out", str(out), "--steps", "4", "--batch", "8"])
    assert rc == 0 and out.is_file()
    assert "held-out" in capsys.readouterr().out
    ck = load_checkpoint(out, expected_kind="encoder")
    gen = load_generator(tiny["gen"])
    assert ck["generator"]["sha256"] == gen.sha256 and ck["attribute_names"] == list(gen.attribute_names)

    enc = load_encoder(out, gen)
    z, c = enc.predict(torch.zeros(2, 3, 32, 32))
    assert z.shape == (2, Z_DIM) and c.shape == (2, len(DEMO_ATTRIBUTES)) and 0 <= c.min() <= c.max() <= 1
    face = generate_images(gen.G, sample_z(1, Z_DIM, 3), gen.labels.sample(1, np.random.default_rng(3)))[0]
    zs, cs = start_latents(gen, to_tensor(face[None]), encoder=enc)
    assert [k for k, _ in zs] == ["seed", "encoder"] and float(zs[1][1].pow(2).mean()) <= 1 + 1e-5 and len(cs) == 1
    assert project(gen, face, encoder=enc, steps=3).start in ("encoder", "seed")  # whichever start draws it closer

    # A metadata-only rewrite of the generator (what `evaluate` does) keeps the encoder; other weights do not.
    ck_gen = load_checkpoint(tiny["gen"])
    ck_gen["metrics_history"] = list(ck_gen["metrics_history"]) + [{"date": "now", "metrics": {"fid": 1.0}}]
    save_checkpoint(tmp_path / "gen_evaluated.pt", ck_gen)
    assert load_encoder(out, load_generator(tmp_path / "gen_evaluated.pt")).cfg.z_dim == Z_DIM
    with pytest.raises(CheckpointError, match="trained for generator .*python -m gan encoder train"):
        load_encoder(out, load_generator(tiny["other"]))
    with pytest.raises(CheckpointError, match="'generator' checkpoint, expected 'encoder'"):
        load_encoder(tiny["gen"], gen)


def test_astronaut_goes_through_detect_crop_project_and_into_the_store(tiny):
    from gan.metrics.classifier import load_classifier

    gen, clf = load_generator(tiny["gen"]), load_classifier(tiny["clf"])
    faces = prepare_photo(astronaut_png(), gen.dataset.get("crop"), gen.img_resolution)
    assert len(faces) == 1 and faces[0].prob > 0.99 and faces[0].mode == "mtcnn-context"
    assert faces[0].crop.shape == (32, 32, 3) and faces[0].crop.dtype == np.uint8
    res = project(gen, faces[0].crop, classifier=clf, steps=20)
    assert res.reconstruction.shape == (32, 32, 3) and 0 <= res.pixel_error <= 255
    assert res.attr_agree[1] == len(DEMO_ATTRIBUTES) and "of 4 attributes" in res.summary()
    assert res.error_map().shape == (32, 32, 3)
    store = LatentStore(paths.store_path())
    store.add_latents("me", res.z[None], res.c[None], gen.attribute_names, gen.checkpoint_id)
    assert len(store.get_latents("me")) == 1


def test_bad_photos_get_clear_messages():
    with pytest.raises(PhotoError, match="not an image"):
        prepare_photo(b"%PDF-1.4 definitely not a picture", "none", 32)
    with pytest.raises(PhotoError, match="No face found"):
        prepare_photo(png(np.full((120, 160, 3), 200, np.uint8)), "none", 32)
    with pytest.raises(PhotoError, match="too large"):
        load_photo(png(np.zeros((64, 64, 3), np.uint8)), max_pixels=1000)
    with pytest.raises(PhotoError, match="too large"):
        load_photo(b"x" * 2000, max_bytes=1000)
    with pytest.raises(PhotoError, match="too small"):
        prepare_photo(png(np.zeros((12, 300, 3), np.uint8)), "none", 32)  # MTCNN itself would crash on it
    with pytest.raises(PhotoError, match="empty"):
        load_photo(b"")


def test_cli_writes_images_and_latents_and_refuses_non_images(tiny, tmp_path, capsys):
    from gan.__main__ import main
    from gan.latents_file import load_latents_npz

    photo = tmp_path / "astronaut.png"
    photo.write_bytes(astronaut_png())
    out = tmp_path / "proj"
    rc = main(["project", "--ckpt", str(tiny["gen"]), str(photo), "--steps", "5", "--out", str(out),
               "--encoder", "none", "--classifier", str(tiny["clf"])])
    assert rc == 0
    for f in ("original.png", "reconstruction.png", "error.png", "comparison.png"):
        assert Image.open(out / f).size[0] >= 32
    lat = load_latents_npz(out / "latents.npz")
    assert lat["z"].shape == (1, Z_DIM) and lat["attribute_names"] == list(DEMO_ATTRIBUTES)
    assert "Mean pixel error" in capsys.readouterr().out
    bad = tmp_path / "notes.jpg"
    bad.write_text("hello")
    assert main(["project", "--ckpt", str(tiny["gen"]), str(bad), "--out", str(out)]) == 2
    assert "not an image" in capsys.readouterr().err
    assert main(["project", "--ckpt", str(tiny["gen"]), str(photo), "--face", "3", "--out", str(out)]) == 2


# ----------------------------------------------------------------------------- the page


@pytest.fixture
def app_env(tiny, monkeypatch):
    monkeypatch.setenv("GAN_CKPT", str(tiny["gen"]))
    monkeypatch.setenv("GAN_CLASSIFIER", str(tiny["clf"]))
    yield tiny


def open_project_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("../pages/project.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_page_example_photo_projects_and_saves_to_the_store(app_env):
    at = open_project_page()
    at.button(key="proj_example").click().run()
    assert not at.error and not at.exception
    assert len(at.radio(key="proj_face").options) == 1
    at.slider(key="proj_steps").set_value(25).run()
    at.button(key="proj_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("MSE" in i.value for i in at.info)
    at.text_input(key="proj_save_name").input("my face")
    at.button(key="FormSubmitter:proj_save_form-Save the projected face").click().run()
    assert not at.exception and any("Saved 1 face" in s.value for s in at.success), (at.error, at.success, at.info)
    ls = LatentStore(paths.store_path()).get_latents("my face")
    assert len(ls) == 1 and ls.z.shape == (1, Z_DIM) and ls.thumbnails[0] is not None


def test_page_says_what_is_wrong_with_bad_uploads(app_env):
    at = open_project_page()
    at.file_uploader(key="proj_upload").set_value(("holiday.png", b"this is text, not a picture", "image/png")).run()
    assert not at.exception and "not an image" in at.error[0].value
    at.file_uploader(key="proj_upload").set_value(("wall.png", png(np.full((100, 100, 3), 128, np.uint8)), "image/png")).run()
    assert not at.exception and "No face found" in at.error[0].value


@pytest.mark.slow
@pytest.mark.skipif(not paths.DEFAULT_CHECKPOINT.is_file(), reason="needs the shipped checkpoints/default.pt")
def test_shipped_checkpoint_recovers_generated_faces_and_projects_the_astronaut():
    from gan.encoder import default_encoder_for, load_encoder
    from gan.metrics.classifier import default_classifier_for, load_classifier

    gen = load_generator(paths.DEFAULT_CHECKPOINT)
    enc_path, clf_path = default_encoder_for(gen), default_classifier_for(gen)
    enc = load_encoder(enc_path, gen) if enc_path else None
    clf = load_classifier(clf_path) if clf_path else None
    # Held-out generated faces: far closer than a random face of the same condition.
    z, c = sample_z(4, gen.z_dim, 777), gen.labels.sample(4, np.random.default_rng(777))
    target = generate_images(gen.G, z, c)
    random_mae = np.abs(generate_images(gen.G, sample_z(4, gen.z_dim, 778), c).astype(np.int16) - target).mean()
    res = project_batch(gen, target, encoder=enc, classifier=clf, steps=100)
    assert np.mean([r.pixel_error for r in res]) <= 0.5 * random_mae
    # The astronaut: the optimisation lowers the loss it starts from.
    face = prepare_photo(astronaut_png(), gen.dataset.get("crop"), gen.img_resolution)[0]
    astro = project(gen, face.crop, encoder=enc, classifier=clf, steps=100)
    assert astro.loss_curve[-1] < astro.loss_curve[0] and astro.pixel_error < 255
