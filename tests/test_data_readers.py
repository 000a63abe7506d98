"""Safe image decoding and the CelebA (official + Kaggle) and folder+CSV readers, on tiny datasets built here."""
from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan.attributes import CELEBA_ATTRIBUTES, UnknownAttributeError
from gan.data.celeba import CelebAError, read_celeba
from gan.data.folder import FolderError, read_folder
from gan.data.imagefiles import ImageFileError, open_image

SMILING, MALE, YOUNG = (CELEBA_ATTRIBUTES.index(n) for n in ("Smiling", "Male", "Young"))


# ---------------------------------------------------------------- builders (also used by test_prepare.py)

def write_jpeg(path: Path, seed: int, size=(36, 44)) -> None:
    """A tiny real JPEG: a smooth gradient plus noise, so it decodes to a real picture."""
    rng = np.random.default_rng(seed)
    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = np.linspace(0, 255, w)[None, :]
    img[..., 1] = np.linspace(0, 255, h)[:, None]
    img[..., 2] = rng.integers(0, 255, (h, w))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path, "JPEG", quality=90)


def write_truncated_jpeg(path: Path) -> None:
    write_jpeg(path, 99)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A valid-looking PNG whose header claims width×height pixels (a few hundred bytes on disk)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def attr_row(image_id: str, on: set[int], n: int = 40) -> list[str]:
    return [image_id] + ["1" if k in on else "-1" for k in range(n)]


# Labels of the six good images: 000001 smiling, 000002 male, 000003 both, 000004 young, 000005 none, 000006 all three.
GOOD = {"000001.jpg": {SMILING}, "000002.jpg": {MALE}, "000003.jpg": {SMILING, MALE},
        "000004.jpg": {YOUNG}, "000005.jpg": set(), "000006.jpg": {SMILING, MALE, YOUNG}}
PARTITION = {"000001.jpg": 0, "000002.jpg": 0, "000003.jpg": 0, "000004.jpg": 1, "000005.jpg": 2, "000006.jpg": 0,
             "000007.jpg": 0, "000008.jpg": 0, "000009.jpg": 0, "000010.jpg": 0, "000011.jpg": 0}


def _images(folder: Path) -> None:
    for k, name in enumerate(GOOD):
        write_jpeg(folder / name, k)
    write_truncated_jpeg(folder / "000007.jpg")                 # decodes badly → skipped at prepare
    (folder / "000008.jpg").write_text("this is not a JPEG\n")   # text renamed .jpg → skipped at prepare
    write_jpeg(folder / "000010.jpg", 10)                       # row has a value 2
    write_jpeg(folder / "000011.jpg", 11)                       # row has too few values
    # 000009.jpg is listed but missing on disk


def _bad_rows() -> list[list[str]]:
    rows = [attr_row(i, on) for i, on in GOOD.items()]
    rows.append(attr_row("000007.jpg", set()))
    rows.append(attr_row("000008.jpg", set()))
    rows.append(attr_row("000009.jpg", set()))          # missing file
    two = attr_row("000010.jpg", set())
    two[5] = "2"
    rows.append(two)                                     # value 2
    rows.append(attr_row("000011.jpg", set())[:-3])     # too few values
    rows.append(attr_row("000003.jpg", {YOUNG}))         # duplicate id
    return rows


def make_celeba_official(root: Path) -> Path:
    """Official layout: count line, header of 40 names, rows with irregular spacing."""
    _images(root / "img_align_celeba")
    rows = _bad_rows()
    lines = [str(len(rows)), " ".join(CELEBA_ATTRIBUTES) + " "]
    for r in rows:
        lines.append(r[0] + " " + "".join(("  " if v == "1" else " ") + v for v in r[1:]))  # "  1 -1  1" style
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    (root / "list_eval_partition.txt").write_text("".join(f"{k} {v}\n" for k, v in PARTITION.items()))
    return root


def make_celeba_kaggle(root: Path) -> Path:
    """Kaggle layout: CSVs with image_id, images nested in img_align_celeba/img_align_celeba/."""
    _images(root / "img_align_celeba" / "img_align_celeba")
    lines = ["image_id," + ",".join(CELEBA_ATTRIBUTES)] + [",".join(r) for r in _bad_rows()]
    (root / "list_attr_celeba.csv").write_text("\n".join(lines) + "\n")
    (root / "list_eval_partition.csv").write_text(
        "image_id,partition\n" + "".join(f"{k},{v}\n" for k, v in PARTITION.items()))
    return root


def make_folder(root: Path, n: int = 10, split_column: bool = False) -> Path:
    """Folder + CSV: filename, smiling (0/1), glasses (-1/1, not a CelebA name), notes (ignored)."""
    header = "filename,smiling,glasses,notes" + (",split" if split_column else "")
    lines = [header]
    for k in range(n):
        name = f"img/{k:03d}.jpg"
        write_jpeg(root / name, k)
        row = [name, str(k % 2), "1" if k % 3 == 0 else "-1", f"note {k}"]
        if split_column:
            row.append(["train", "val", "test"][k % 3])
        lines.append(",".join(row))
    (root / "attributes.csv").write_text("\n".join(lines) + "\n")
    return root


# ---------------------------------------------------------------- open_image

def test_open_image_decodes_files_bytes_and_converts_to_rgb(tmp_path):
    write_jpeg(tmp_path / "a.jpg", 0)
    img = open_image(tmp_path / "a.jpg")
    assert img.mode == "RGB" and img.size == (36, 44)
    buf = io.BytesIO()
    Image.new("RGBA", (5, 4), (10, 20, 30, 255)).save(buf, "PNG")
    img = open_image(buf.getvalue())
    assert img.mode == "RGB" and img.getpixel((0, 0)) == (10, 20, 30)


@pytest.mark.parametrize("make, reason", [
    (write_truncated_jpeg, "truncated"),
    (lambda p: p.write_text("hello, I am a text file"), "not an image"),
    (lambda p: p.write_bytes(b""), "empty file"),
    (lambda p: None, "missing file"),
])
def test_open_image_refuses_bad_files_with_a_reason(tmp_path, make, reason):
    path = tmp_path / "x.jpg"
    make(path)
    with pytest.raises(ImageFileError) as e:
        open_image(path)
    assert e.value.reason == reason
    assert "x.jpg" in str(e.value)


def test_open_image_refuses_decompression_bombs_before_decoding(tmp_path):
    data = bomb_png(20000, 20000)
    assert len(data) < 1000
    with pytest.raises(ImageFileError) as e:
        open_image(data)
    assert e.value.reason.startswith("too large (400000000 pixels")
    # Below PIL's own limits our cap still applies, read from the header.
    (tmp_path / "b.png").write_bytes(bomb_png(8000, 8000))
    with pytest.raises(ImageFileError, match=r"too large \(64000000 pixels > cap 1000000\)"):
        open_image(tmp_path / "b.png", max_pixels=1_000_000)


# ---------------------------------------------------------------- CelebA

@pytest.mark.parametrize("make, layout", [(make_celeba_official, "celeba-official"), (make_celeba_kaggle, "celeba-kaggle")])
def test_celeba_layouts_read_labels_splits_and_report_bad_rows(tmp_path, make, layout):
    root = make(tmp_path / "celeba")
    data = read_celeba(root, attrs=["smiling", "Male", "young"])
    assert data.layout == layout
    assert data.attribute_names == ["Smiling", "Male", "Young"]
    # Good rows plus the two broken images (their rows are fine; decoding fails later, in prepare).
    assert data.ids == [*GOOD, "000007.jpg", "000008.jpg"]
    assert all(os.path.isfile(p) for p in data.paths)
    np.testing.assert_array_equal(data.attrs[:6], [[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1], [0, 0, 0], [1, 1, 1]])
    np.testing.assert_array_equal(data.split[:6], [0, 0, 0, 1, 2, 0])
    assert data.problems.as_dict() == {"missing image file": 1, "value other than ±1": 1,
                                       "wrong number of values": 1, "duplicate id": 1}
    attr_file = "list_attr_celeba.txt" if layout == "celeba-official" else "list_attr_celeba.csv"
    first_row = 3 if layout == "celeba-official" else 2
    ex = "\n".join(data.problems.examples)
    assert f"{attr_file}:{first_row + 8} missing image file" in ex
    assert f"{attr_file}:{first_row + 9} value other than ±1 ('2')" in ex
    assert f"{attr_file}:{first_row + 10} wrong number of values (expected 40, got 37)" in ex
    assert f"{attr_file}:{first_row + 11} duplicate id (000003.jpg first on line {first_row + 2})" in ex


def test_celeba_all_attributes_by_default(tmp_path):
    data = read_celeba(make_celeba_official(tmp_path))
    assert data.attribute_names == list(CELEBA_ATTRIBUTES) and data.attrs.shape == (8, 40)
    assert data.notes == []  # count line matches the row count


def test_celeba_unknown_attribute_suggests_close_matches(tmp_path):
    root = make_celeba_official(tmp_path)
    with pytest.raises(UnknownAttributeError, match="Did you mean: Smiling"):
        read_celeba(root, attrs=["Smilng"])


def test_celeba_wrong_header_and_missing_files_are_clear_errors(tmp_path):
    root = make_celeba_official(tmp_path / "a")
    (root / "list_attr_celeba.txt").write_text("3\nfoo bar baz\n000001.jpg 1 1 1\n")
    with pytest.raises(CelebAError, match=r"list_attr_celeba.txt:2: not a CelebA attribute header"):
        read_celeba(root)
    (root / "list_attr_celeba.txt").write_text("")
    with pytest.raises(CelebAError, match="no attribute header"):
        read_celeba(root)
    with pytest.raises(CelebAError, match="does not exist"):
        read_celeba(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CelebAError, match="No CelebA attribute file"):
        read_celeba(tmp_path / "empty")


def test_celeba_without_partition_file_uses_hash_split(tmp_path):
    root = make_celeba_official(tmp_path)
    (root / "list_eval_partition.txt").unlink()
    a, b = read_celeba(root), read_celeba(root)
    assert a.split_source.startswith("hash") and np.array_equal(a.split, b.split)


# ---------------------------------------------------------------- folder + CSV

def test_folder_csv_reads_any_column_names_and_hash_split(tmp_path):
    data = read_folder(make_folder(tmp_path, n=40))
    assert data.layout == "folder-csv"
    assert data.attribute_names == ["Smiling", "glasses"]  # CelebA name canonicalised, other kept as-is
    assert any("notes" in n for n in data.notes)            # a non-label column is ignored, and said so
    assert data.ids[:3] == ["img/000.jpg", "img/001.jpg", "img/002.jpg"]
    np.testing.assert_array_equal(data.attrs[:4], [[0, 1], [1, 0], [0, 0], [1, 1]])
    assert np.array_equal(data.split, read_folder(tmp_path).split)  # deterministic
    assert set(np.unique(data.split)) <= {0, 1, 2} and (data.split == 0).mean() > 0.6
    sub = read_folder(tmp_path, attrs=["Glasses"])
    assert sub.attribute_names == ["glasses"] and sub.attrs.shape == (40, 1)
    with pytest.raises(UnknownAttributeError, match="glasses"):
        read_folder(tmp_path, attrs=["glases"])


def test_folder_split_column_and_bad_rows(tmp_path):
    root = make_folder(tmp_path, n=6, split_column=True)
    with open(root / "attributes.csv", "a") as f:
        f.write("img/000.jpg,1,1,dup,train\n")          # duplicate id
        f.write("img/missing.jpg,1,1,x,train\n")        # missing file
        f.write("img/001.jpg,2,1,x,train\n")            # bad value
        f.write("img/002.jpg,1\n")                      # too few values
        f.write("../outside.jpg,1,1,x,train\n")         # path escaping the folder
    data = read_folder(root)
    assert data.split.tolist() == [0, 1, 2, 0, 1, 2]
    assert data.problems.as_dict() == {"duplicate id": 1, "missing image file": 1, "value other than 0/1 or ±1": 1,
                                       "wrong number of values": 1, "path outside folder": 1}
    assert "attributes.csv:8 duplicate id" in data.problems.examples[0]


def test_folder_empty_and_unlabelled(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FolderError, match="No images found"):
        read_folder(tmp_path / "empty")
    write_jpeg(tmp_path / "plain" / "a.jpg", 0)
    write_jpeg(tmp_path / "plain" / "sub" / "b.jpg", 1)
    data = read_folder(tmp_path / "plain")
    assert data.ids == ["a.jpg", "sub/b.jpg"] and data.attrs.shape == (2, 0)
    (tmp_path / "nolabels").mkdir()
    (tmp_path / "nolabels" / "attributes.csv").write_text("filename,Smiling\nx.jpg,1\n")
    with pytest.raises(FolderError, match="no usable rows"):
        read_folder(tmp_path / "nolabels")
