"""Replayable exports: every recipe kind re-renders its images bit for bit after a round trip through a PNG or GIF."""
from __future__ import annotations

import io
import json

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


def _edit_strip(tmp_path, n_faces: int):
    """(checkpoint path, the Edit page's strip of n_faces faces at strengths 0 and 1.5) on a tiny checkpoint."""
    from types import SimpleNamespace

    from explorer import loaders
    from gan.edits import attribute_direction

    path = make_tiny_generator(tmp_path / "runs" / "g.pt", z_dim=16)  # the app reads runs/ (conftest's GAN_RUNS_DIR)
    gen = load_generator(path)
    reader = SimpleNamespace(attribute_names=gen.attribute_names,
                             predict_proba=lambda img: torch.sigmoid(img.mean((2, 3))[:, :1].repeat(1, 4) * 50),
                             features=lambda img: img.mean((2, 3)))
    d = attribute_direction(gen, reader, gen.attribute_names[0], "w", n=60)
    return path, loaders.edit_strip(str(path), loaders.mtime(path), d, ("k",), n_faces, 0, (0.0, 1.5))


def test_edit_page_export_replays_bit_for_bit(tmp_path):
    """The Edit page's strip download (explorer) and its replay uploader path, on the same checkpoint file."""
    from explorer import edit_view, loaders

    path, strip = _edit_strip(tmp_path, 2)
    assert strip["images"].shape == (2, 2, 32, 32, 3)
    png = edit_view.strip_png(strip)
    out = loaders.replay(str(path), loaders.mtime(path), png)
    assert out["images"].tobytes() == strip["images"].reshape(4, 32, 32, 3).tobytes()
    assert edit_view.same_pixels(png, out["images"], out["recipe"]) is True
    bomb = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (60000).to_bytes(4, "big") * 2 + b"\x08\x02\x00\x00\x00"
    assert edit_view.same_pixels(bomb, out["images"], out["recipe"]) is None  # never decoded
    other = loaders.replay(str(path), loaders.mtime(path), b"{\"format\": \"gan-recipe/1\", \"kind\": \"faces\"}")
    assert "made with checkpoint" in other["error"]


# ----------------------------------------------------------------------------- MP4 (lossy video, exact recipe)

def _decode(data: bytes, tmp_path) -> tuple[tuple[int, int], int]:
    """(width, height) and frame count of MP4 bytes, decoded by the same ffmpeg binary."""
    import imageio_ffmpeg

    path = tmp_path / "v.mp4"
    path.write_bytes(data)
    frames = imageio_ffmpeg.read_frames(str(path))
    meta = next(frames)
    return meta["size"], sum(1 for _ in frames)


@pytest.mark.parametrize("kind", rc.KINDS)
def test_mp4_round_trip_re_renders_the_encoded_frames(loaded, kind, tmp_path):
    recipe = _recipes(loaded)[kind]
    frames = rc.video_frames(recipe, rc.render(loaded, recipe))      # exactly what the encoder is fed
    expected = {"faces": 3, "direction": 3, "interpolate": 5, "mix": 4}[kind]
    assert len(frames) == expected
    data = rc.mp4_with_recipe(frames, recipe)
    back = rc.read_recipe(data)
    assert back == json.loads(json.dumps(recipe))                     # the recipe, exactly
    assert rc.video_frames(back, rc.render(loaded, back)).tobytes() == frames.tobytes()
    (w, h), n = _decode(data, tmp_path)
    scale = 256 // frames.shape[1]                                    # 32-px faces are enlarged 8×
    assert n == expected and w % 2 == 0 and h % 2 == 0
    assert (h, w) == (frames.shape[1] * scale, frames.shape[2] * scale)


def test_mp4_pads_odd_frames_to_even_and_may_carry_no_recipe(tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, (3, 129, 131, 3), dtype=np.uint8)  # 256 // 129 = 1: no enlarging
    data = rc.mp4_with_recipe(frames, None)
    assert _decode(data, tmp_path) == ((132, 130), 3)
    with pytest.raises(rc.RecipeError, match="carries no recipe"):
        rc.read_recipe(data)


def test_mp4_recipe_survives_characters_ffmetadata_escapes_and_any_length(loaded):
    recipe = dict(_recipes(loaded)["faces"], note="a=b; #c \\ d\nnext line — ünïcode", pad="x" * 300_000)
    frames = rc.render(loaded, recipe)
    assert rc.read_recipe(rc.mp4_with_recipe(frames, recipe)) == recipe  # longer than one command-line argument


def test_bad_mp4s_get_one_clear_error(loaded, monkeypatch):
    recipe = _recipes(loaded)["interpolate"]
    data = rc.mp4_with_recipe(rc.render(loaded, recipe), recipe)
    moov = data.index(b"moov") - 4
    corrupt = data[:moov] + (2**31).to_bytes(4, "big") + data[moov + 4:]  # moov claims more bytes than the file has
    with pytest.raises(rc.RecipeError, match="not a valid MP4 file: box b'moov'"):
        rc.read_recipe(corrupt)
    with pytest.raises(rc.RecipeError, match="truncated box header"):
        rc.read_recipe(data[:moov + 5])
    with pytest.raises(rc.RecipeError, match="more than 100000 boxes"):
        rc.read_recipe(data[:moov] + b"\x00\x00\x00\x08free" * 100_001)
    with pytest.raises(rc.RecipeError, match="file too large"):
        rc.read_recipe(data[:moov] + b"\x00" * (rc.MAX_RECIPE_BYTES * 8))
    padded = dict(recipe, pad="x" * 100_000)
    data = rc.mp4_with_recipe(rc.render(loaded, recipe), padded)
    monkeypatch.setattr(rc, "MAX_RECIPE_BYTES", 50_000)             # the file is under 8× this, its recipe over it
    with pytest.raises(rc.RecipeError, match="the recipe is too large"):
        rc.read_recipe(data)
    with pytest.raises(rc.RecipeError, match="too large to export"):
        rc.mp4_with_recipe(rc.render(loaded, recipe), padded)


def test_missing_ffmpeg_binary_is_one_clear_error(loaded, monkeypatch):
    import imageio_ffmpeg

    from gan.mp4 import VideoError

    def missing() -> str:
        raise RuntimeError("No ffmpeg exe could be found")
    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", missing)
    recipe = _recipes(loaded)["interpolate"]
    with pytest.raises(VideoError, match="needs the ffmpeg binary that the imageio-ffmpeg package ships"):
        rc.mp4_with_recipe(rc.render(loaded, recipe), recipe)


def test_edit_page_mp4_export_replays_its_frames(tmp_path):
    """The Edit page's strip MP4 (explorer) through its replay uploader path: the recipe re-renders the frames."""
    from explorer import edit_view, loaders

    path, strip = _edit_strip(tmp_path, 3)
    frames = edit_view.strip_frames(strip)
    assert frames.shape == (2, 2 + 32 + 2, 2 + 3 * 34, 3)             # one frame per strength, the faces side by side
    data = loaders.video(frames, strip["recipe"])
    out = loaders.replay(str(path), loaders.mtime(path), data)
    assert rc.video_frames(out["recipe"], out["images"]).tobytes() == frames.tobytes()
    caption = edit_view.replay_caption(data, out["images"], out["recipe"])
    assert "MP4 itself is lossy" in caption and "re-renders the exact frames" in caption
