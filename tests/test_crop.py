"""Crops: the DCGAN centre crop matches torchvision's, MTCNN finds the astronaut, faceless images are skipped."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from gan.data.crop import center_crop, check_mode, crop_face, crop_image, detect_faces, face_square
from gan.data.prepare import prepare


def _celeba_like() -> Image.Image:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (218 // 2, 178 // 2, 3)).astype(np.uint8)
    return Image.fromarray(base).resize((178, 218), Image.BILINEAR)  # 178×218 like aligned CelebA


def test_center_crop_matches_torchvision_resize_centercrop():
    from torchvision import transforms
    img = _celeba_like()
    ours = np.asarray(center_crop(img, 64), dtype=np.float32)
    ref = np.asarray(transforms.Compose([transforms.Resize(64), transforms.CenterCrop(64)])(img), dtype=np.float32)
    assert ours.shape == ref.shape == (64, 64, 3)
    assert np.abs(ours - ref).mean() < 6  # same region; only sub-pixel rounding differs
    # For 178×218 it is the 178×178 centre square (rows 20 … 198).
    square = np.asarray(img.crop((0, 20, 178, 198)).resize((64, 64), Image.BILINEAR), dtype=np.float32)
    assert np.abs(ours - square).mean() < 1
    assert crop_image(img, "center:140", 32).size == (32, 32)


def test_check_mode():
    assert check_mode("Center") == "center" and check_mode("center:108") == "center:108"
    with pytest.raises(ValueError, match="Unknown crop mode"):
        check_mode("middle")


def test_crop_face_squares_and_pads_outside():
    img = Image.new("RGB", (100, 80), (200, 10, 10))
    assert face_square((10, 10, 30, 50), "mtcnn-face") == (0.0, 10.0, 40.0, 50.0)
    assert face_square((10, 10, 30, 50), "mtcnn-context") == (-20.0, -10.0, 60.0, 70.0)
    out = crop_face(img, (10, 10, 30, 50), "mtcnn-context", 24)  # extends past the top-left corner
    assert out.size == (24, 24)
    assert np.asarray(out)[0, 0].tolist() == [200, 10, 10]  # edge-padded, not black


@pytest.mark.slow
def test_mtcnn_finds_the_astronaut_and_skips_faceless_images(tmp_path):
    from skimage import data
    astronaut = Image.fromarray(data.astronaut())
    faces = detect_faces(astronaut)
    assert len(faces) == 1
    (x1, y1, x2, y2), prob = faces[0]
    assert prob > 0.99 and 150 < x1 < x2 < 300 and 30 < y1 < y2 < 200  # her face, upper middle
    for mode in ("mtcnn-face", "mtcnn-context"):
        assert crop_image(astronaut, mode, 48, faces).size == (48, 48)
    coins = Image.fromarray(data.coins()).convert("RGB")
    assert detect_faces(coins) == [] and crop_image(coins, "mtcnn-face", 48) is None

    # In prepare: the faceless image is skipped and counted, never a crash.
    root = tmp_path / "photos"
    root.mkdir()
    astronaut.save(root / "astronaut.jpg")
    coins.save(root / "coins.png")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (128, 128, 3), dtype=np.uint8)).save(root / "noise.png")
    cache = prepare(f"folder:{root}", size=32, crop="mtcnn-context", out=tmp_path / "out", progress=False)
    assert cache.ids == ["astronaut.jpg"] and cache.images.shape == (1, 32, 32, 3)
    assert cache.manifest["skipped"] == {"no face found": 2}
