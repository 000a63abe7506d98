"""Image files on disk: safe decoding (pixel caps, corrupt files) and the labelled file lists readers return."""
from __future__ import annotations

import hashlib
import io
import re
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

DEFAULT_MAX_PIXELS = 40_000_000  # ~ a 7300×5500 photo; a 20000×20000 "bomb" (400M pixels) is refused
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")
MAX_EXAMPLES = 50  # problem examples kept for the manifest


class ImageFileError(ValueError):
    """An image that cannot be used; `reason` is a short stable string ("truncated", "not an image", …)."""

    def __init__(self, reason: str, source: str = "", detail: str = ""):
        self.reason, self.source, self.detail = reason, source, detail
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{reason}{f' ({detail})' if detail else ''}")


class DatasetError(ValueError):
    """A dataset that cannot be read at all (missing folder, no valid attribute header, no usable rows)."""


def _describe(src) -> str:
    if isinstance(src, (str, Path)):
        return str(src)
    name = getattr(src, "name", None)  # file objects and uploads carry their file name
    return str(name) if isinstance(name, str) and name else "uploaded image"


def open_image(src: str | Path | bytes | io.IOBase, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode an image file, bytes or file object into an RGB PIL image, refusing anything unsafe.

    The pixel count is read from the header and checked against `max_pixels` *before* decoding;
    truncated/corrupt files, non-images and empty files raise ImageFileError with a clear reason.
    """
    name = _describe(src)
    if hasattr(src, "read"):  # a file object (e.g. a Streamlit upload): read it once, then treat as bytes
        src = src.read()
    if isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
        if not data:
            raise ImageFileError("empty file", name)
        fp = io.BytesIO(data)
    elif isinstance(src, (str, Path)):
        path = Path(src)
        try:
            if path.stat().st_size == 0:
                raise ImageFileError("empty file", name)
        except FileNotFoundError:
            raise ImageFileError("missing file", name) from None
        except OSError as e:  # a folder, permissions …
            raise ImageFileError("unreadable file", name, e.strerror or str(e)) from None
        fp = path
    else:
        raise TypeError(f"open_image needs a path, bytes or a file object, not {type(src).__name__}")
    try:
        with warnings.catch_warnings():
            # PIL only *warns* between its own limit and 2× it; we apply our own cap below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(fp)  # lazy: reads the header only
    except Image.DecompressionBombError as e:
        m = re.search(r"\((\d+) pixels\)", str(e))
        n = m.group(1) if m else "?"
        raise ImageFileError(f"too large ({n} pixels > cap {max_pixels})", name) from None
    except UnidentifiedImageError:
        raise ImageFileError("not an image", name) from None
    except IsADirectoryError:
        raise ImageFileError("unreadable file", name, "is a folder") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageFileError("corrupt", name, str(e)) from None
    w, h = img.size
    if w * h > max_pixels:
        img.close()
        raise ImageFileError(f"too large ({w * h} pixels > cap {max_pixels})", name, f"{w}x{h}")
    if w == 0 or h == 0:
        raise ImageFileError("corrupt", name, f"size {w}x{h}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img.load()
    except OSError as e:
        msg = str(e)
        reason = "truncated" if "truncated" in msg or "premature" in msg.lower() else "corrupt"
        raise ImageFileError(reason, name, msg) from None
    except (SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as e:
        raise ImageFileError("corrupt", name, str(e)) from None
    try:
        img = ImageOps.exif_transpose(img)  # phone photos: honour the orientation tag
    except Exception:  # a damaged EXIF block is no reason to refuse the pixels
        pass
    if img.mode != "RGB":
        if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
            rgba = img.convert("RGBA")
            bg = Image.new("RGB", rgba.size, (255, 255, 255))
            bg.paste(rgba, mask=rgba.getchannel("A"))
            img = bg
        else:
            img = img.convert("RGB")
    return img


class Problems:
    """Rows or files left out of a dataset: reason → count, plus the first examples as "file:line reason"."""

    def __init__(self, max_examples: int = MAX_EXAMPLES):
        self.counts: Counter[str] = Counter()
        self.examples: list[str] = []
        self.max_examples = max_examples

    def add(self, reason: str, where: str, detail: str = "") -> None:
        self.counts[reason] += 1
        if len(self.examples) < self.max_examples:
            self.examples.append(f"{where} {reason}{f' ({detail})' if detail else ''}")

    def merge(self, other: "Problems") -> None:
        self.counts.update(other.counts)
        room = self.max_examples - len(self.examples)
        self.examples.extend(other.examples[:max(0, room)])

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, int]:
        return dict(self.counts.most_common())

    def __repr__(self) -> str:
        return f"Problems({self.as_dict()})"


@dataclass
class LabeledImages:
    """What a dataset reader returns: the usable image files with their labels and splits."""

    root: Path                      # dataset folder
    layout: str                     # "celeba-official", "celeba-kaggle", "folder-csv", "folder"
    paths: list[str]                # (N,) image files, all present at read time (strings: 200k Paths cost seconds)
    ids: list[str]                  # (N,) ids as written in the label file (file names)
    attribute_names: list[str]      # (K,)
    attrs: np.ndarray               # (N, K) uint8 in {0, 1}
    split: np.ndarray               # (N,) uint8: 0 train, 1 val, 2 test
    split_source: str               # the partition file / column, or "hash 90/5/5"
    label_files: list[Path] = field(default_factory=list)   # files whose content defines the labels
    image_dirs: list[Path] = field(default_factory=list)    # folders the images were listed from
    problems: Problems = field(default_factory=Problems)
    notes: list[str] = field(default_factory=list)          # file-level remarks (count line mismatch …)

    def __len__(self) -> int:
        return len(self.paths)


def hash_split(image_id: str) -> int:
    """Deterministic 90/5/5 train/val/test split from the id alone (stable across machines and runs)."""
    bucket = int.from_bytes(hashlib.sha1(image_id.encode()).digest()[:4], "big") % 100
    return 0 if bucket < 90 else (1 if bucket < 95 else 2)


def list_images(folder: Path, recursive: bool = True) -> list[Path]:
    """Image files under `folder` (by suffix), sorted; hidden files and folders skipped."""
    out = []
    it = folder.rglob("*") if recursive else folder.iterdir()
    for p in it:
        rel = p.relative_to(folder).parts
        if any(part.startswith(".") for part in rel):
            continue
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
            out.append(p)
    return sorted(out)
