"""Replayable exports: every recipe kind re-renders its images bit for bit after a round trip through a PNG or GIF."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.demo import make_tiny_generator
from gan import recipe as rc
from gan.checkpoint import load_generator
from gan.generate import image_grid, sample_z


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    return load_generator(make_tiny_generator(tmp_path_factory.mktemp("r") / "g.pt", z_dim=16))


def _faces(loaded, n, seed):
    z = sample_z(n, 16, seed).numpy()
    c = loaded.labels.sample(n, np.random.default_rng(seed))
    return z, c


def _recipes(loaded):
    z, c = _faces(loaded, 3, 0)
    w = loaded.G.mapping(torch.from_numpy(z), torch.from_numpy(c)).detach().numpy()
    d = np.random.default_rng(1).normal(size=w.shape[1]).astype(np.float32)
    d /= np.linalg.norm(d)
    cid = loaded.checkpoint_id
    return {
        "faces": rc.make("faces", cid, z=z, c=c, w=w),
        "direction": rc.make("direction", cid, space="w", z=z, c=c, w=w, direction=d, sigma=0.7, strengths=[-1.0, 0.0, 2.5]),
        "interpolate": rc.make("interpolate", cid, space="w", a={"z": rc.floats(z[0]), "c": rc.floats(c[0]), "w": None},
                               b={"z": rc.floats(z[1]), "c": rc.floats(c[1]), "w": rc.floats(w[1])}, steps=5),
        "mix": rc.make("mix", cid, sources={"z": rc.floats(z[:2]), "c": rc.floats(c[:2])},
                       targets={"z": rc.floats(z[1:]), "c": rc.floats(c[1:])}, layers=[0, 1]),
    }


@pytest.mark.parametrize("kind", rc.KINDS)
def test_png_and_gif_round_trips_reproduce_the_bytes(loaded, kind):
    recipe = _recipes(loaded)[kind]
    images = rc.render(loaded, recipe)
    expected = {"faces": 3, "direction": 9, "interpolate": 5, "mix": 4}[kind]
    assert images.shape == (expected, 32, 32, 3) and images.dtype == np.uint8
    grid = np.asarray(image_grid(images, nrow=3))
    png = rc.png_with_recipe(grid, recipe)
    again = rc.render(loaded, rc.read_recipe(png))
    assert again.tobytes() == images.tobytes()
    assert np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).tobytes() == grid.tobytes()
    gif = rc.gif_with_recipe(images, recipe)
    assert rc.render(loaded, rc.read_recipe(gif)).tobytes() == images.tobytes()


def test_stored_w_is_what_renders_a_faces_recipe(loaded):
    recipe = _recipes(loaded)["direction"]
    zero = dict(recipe, strengths=[0.0])
    faces = rc.render(loaded, dict(recipe, kind="faces"))
    assert rc.render(loaded, zero).tobytes() == faces.tobytes()  # strength 0 is the face itself


def test_bad_recipes_get_one_clear_error(loaded):
    good = _recipes(loaded)["faces"]
    with pytest.raises(rc.RecipeError, match="made with checkpoint"):
        rc.render(loaded, dict(good, checkpoint_id="000000000000"))
    with pytest.raises(rc.RecipeError, match="finite rows"):
        rc.render(loaded, dict(good, w=[[float("nan")] * loaded.G.w_dim]))
    with pytest.raises(rc.RecipeError, match="lacks the field"):
        rc.render(loaded, {k: v for k, v in _recipes(loaded)["direction"].items() if k != "sigma"})
    with pytest.raises(rc.RecipeError, match="carries no recipe"):
        buf = io.BytesIO()
        Image.new("RGB", (4, 4)).save(buf, format="PNG")
        rc.read_recipe(buf.getvalue())
    with pytest.raises(rc.RecipeError, match="not a PNG"):
        rc.read_recipe(b"\x00garbage")
    with pytest.raises(rc.RecipeError, match="not valid JSON"):
        rc.read_recipe(b"{not json")
    with pytest.raises(rc.RecipeError, match="kind must be"):
        rc.make("warp", "x")


def test_edit_page_export_replays_bit_for_bit(tmp_path):
    """The Edit page's strip download (explorer) and its replay uploader path, on the same checkpoint file."""
    from types import SimpleNamespace

    from explorer import edit_view, loaders
    from gan.edits import attribute_direction

    path = make_tiny_generator(tmp_path / "runs" / "g.pt", z_dim=16)  # the app reads runs/ (conftest's GAN_RUNS_DIR)
    gen = load_generator(path)
    reader = SimpleNamespace(attribute_names=gen.attribute_names,
                             predict_proba=lambda img: torch.sigmoid(img.mean((2, 3))[:, :1].repeat(1, 4) * 50),
                             features=lambda img: img.mean((2, 3)))
    d = attribute_direction(gen, reader, gen.attribute_names[0], "w", n=60)
    strip = loaders.edit_strip(str(path), loaders.mtime(path), d, ("k",), 2, 0, (0.0, 1.5))
    assert strip["images"].shape == (2, 2, 32, 32, 3)
    png = edit_view.strip_png(strip)
    out = loaders.replay(str(path), loaders.mtime(path), png)
    assert out["images"].tobytes() == strip["images"].reshape(4, 32, 32, 3).tobytes()
    assert edit_view.same_pixels(png, out["images"], out["recipe"]) is True
    bomb = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (60000).to_bytes(4, "big") * 2 + b"\x08\x02\x00\x00\x00"
    assert edit_view.same_pixels(bomb, out["images"], out["recipe"]) is None  # never decoded
    other = loaders.replay(str(path), loaders.mtime(path), b"{\"format\": \"gan-recipe/1\", \"kind\": \"faces\"}")
    assert "made with checkpoint" in other["error"]
