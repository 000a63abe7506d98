"""The preprocessed face cache on disk: its file format, an atomic writer and a memory-mapped reader.

A cache folder holds
    images.npy     (N, H, W, 3) uint8, RGB            — memory-mapped at train time
    attrs.npy      (N, K) uint8 in {0, 1}             — K = len(manifest["attribute_names"])
    split.npy      (N,) uint8: 0 train, 1 val, 2 test
    ids.json       list of N image ids (file names, or "synthetic:SEED:INDEX")
    manifest.json  source, layout, crop, size, attribute_names, count, skipped (reason → count),
                   skipped_examples, label_frequencies, fingerprint, format_version
The folder is complete only when manifest.json exists; writers build it in a temp folder and rename.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CACHE_FORMAT_VERSION = 1
SPLITS = {"train": 0, "val": 1, "test": 2}


class CacheError(RuntimeError):
    """A cache folder is missing, incomplete or inconsistent."""


def fingerprint_arrays(images: np.ndarray, attrs: np.ndarray, ids: list[str], extra: dict[str, Any]) -> str:
    """Content hash of a cache: ids, labels, settings and a strided sample of pixels (fast for 200k images)."""
    h = hashlib.sha256()
    h.update(json.dumps(extra, sort_keys=True, default=str).encode())
    h.update("\n".join(ids).encode())
    h.update(np.ascontiguousarray(attrs).tobytes())
    h.update(str(images.shape).encode())
    step = max(1, len(images) // 512)
    h.update(np.ascontiguousarray(images[::step]).tobytes())
    return h.hexdigest()[:16]


def write_cache(out_dir: str | Path, images: np.ndarray | Path, attrs: np.ndarray, split: np.ndarray,
                ids: list[str], manifest: dict[str, Any]) -> Path:
    """Write a complete cache atomically (temp folder + rename); returns the folder path.

    `images` is an array, or the path of a finished (N, H, W, 3) uint8 .npy file on the same file system, which is
    moved in rather than copied (prepare's memory-mapped output: nothing is read into RAM)."""
    out_dir = Path(out_dir)
    images_file = None
    if isinstance(images, (str, Path)):
        images_file = Path(images)
        images = np.load(images_file, mmap_mode="r", allow_pickle=False)
    n = len(images)
    if not (len(attrs) == len(split) == len(ids) == n):
        raise CacheError(f"Inconsistent lengths: images {n}, attrs {len(attrs)}, split {len(split)}, ids {len(ids)}")
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise CacheError(f"images must be (N, H, W, 3) uint8, got {images.shape} {images.dtype}")
    names = list(manifest["attribute_names"])
    if attrs.shape[1:] != (len(names),):
        raise CacheError(f"attrs shape {attrs.shape} does not match {len(names)} attribute names")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        if images_file is not None:
            os.replace(images_file, tmp / "images.npy")  # the open memmap follows the file (same inode)
        else:
            np.save(tmp / "images.npy", images)
        np.save(tmp / "attrs.npy", attrs.astype(np.uint8))
        np.save(tmp / "split.npy", split.astype(np.uint8))
        (tmp / "ids.json").write_text(json.dumps(list(ids)))
        full = dict(manifest)
        full.update(format_version=CACHE_FORMAT_VERSION, count=n, size=int(images.shape[1]),
                    label_frequencies={k: float(v) for k, v in zip(names, attrs.mean(0) if n else np.zeros(len(names)))},
                    split_counts={s: int((split == i).sum()) for s, i in SPLITS.items()})
        full["fingerprint"] = fingerprint_arrays(images, attrs, list(ids), {k: full.get(k) for k in ("source", "crop", "size", "attribute_names")})
        (tmp / "manifest.json").write_text(json.dumps(full, indent=2))
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
            os.replace(out_dir, old)
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


@dataclass
class FaceCache:
    """Read-only view of a cache folder; images are memory-mapped, never decoded."""

    root: Path
    manifest: dict[str, Any]
    images: np.ndarray  # (N, H, W, 3) uint8 memmap
    attrs: np.ndarray   # (N, K) uint8
    split: np.ndarray   # (N,) uint8
    ids: list[str]

    @classmethod
    def open(cls, root: str | Path) -> "FaceCache":
        root = Path(root)
        mpath = root / "manifest.json"
        if not mpath.exists():
            raise CacheError(f"{root} is not a prepared cache (no manifest.json); run `python -m gan prepare --data … --out {root}`")
        try:
            manifest = json.loads(mpath.read_text())
            images = np.load(root / "images.npy", mmap_mode="r", allow_pickle=False)
            attrs = np.load(root / "attrs.npy", allow_pickle=False)
            split = np.load(root / "split.npy", allow_pickle=False)
            ids = json.loads((root / "ids.json").read_text())
        except (OSError, ValueError) as e:
            raise CacheError(f"Cache {root} is damaged: {e}. Delete it and prepare again.") from e
        if not (len(images) == len(attrs) == len(split) == len(ids) == manifest.get("count")):
            raise CacheError(f"Cache {root} is inconsistent (lengths differ); delete it and prepare again.")
        return cls(root, manifest, images, attrs, split, ids)

    @property
    def attribute_names(self) -> tuple[str, ...]:
        return tuple(self.manifest["attribute_names"])

    @property
    def fingerprint(self) -> str:
        return self.manifest["fingerprint"]

    @property
    def size(self) -> int:
        return int(self.images.shape[1])

    def __len__(self) -> int:
        return len(self.images)

    def indices(self, split: str | None = None) -> np.ndarray:
        """Row indices of one split ('train' / 'val' / 'test'), or all rows."""
        if split is None:
            return np.arange(len(self))
        return np.flatnonzero(self.split == SPLITS[split])


def list_caches(root: str | Path) -> list[dict]:
    """Prepared CelebA / folder caches under `root` (synthetic ones are re-made from synthetic:N), by folder name:
    [{spec: "cache:DIR", label, size, count, attribute_names}]. Unreadable manifests are skipped."""
    root = Path(root)
    out = []
    for manifest in sorted(root.glob("*/manifest.json")) if root.is_dir() else []:
        try:
            m = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError):
            continue
        if not isinstance(m, dict) or m.get("layout") == "synthetic" or not isinstance(m.get("attribute_names"), list):
            continue
        try:
            size, count = int(m.get("size") or 0), int(m.get("count") or 0)
        except (TypeError, ValueError):
            continue
        d = manifest.parent
        out.append({"spec": f"cache:{d}", "size": size, "count": count,
                    "attribute_names": [str(a) for a in m["attribute_names"]],
                    "label": f"{m.get('source', d.name)} · {size} px · {count} faces ({d.name})"})
    return out
