"""CelebA readers for a copy already on disk: the official layout (.txt) and Kaggle's (.csv), auto-detected.

Official: img_align_celeba/*.jpg, list_attr_celeba.txt (count line, header of 40 names, rows
"000001.jpg  -1  1 …" with irregular spacing), list_eval_partition.txt ("000001.jpg 0").
Kaggle: list_attr_celeba.csv (image_id,5_o_Clock_Shadow,…) with -1/1, list_eval_partition.csv
(image_id,partition); images may sit in img_align_celeba/img_align_celeba/.
Splits: partition 0 train, 1 val, 2 test. Bad rows are left out and counted; good rows still load.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from gan.attributes import CELEBA_ATTRIBUTES, canonical_name, check_names
from gan.data.imagefiles import DatasetError, LabeledImages, Problems, hash_split

ATTR_FILES = {"celeba-official": "list_attr_celeba.txt", "celeba-kaggle": "list_attr_celeba.csv"}
PARTITION_FILES = {"celeba-official": "list_eval_partition.txt", "celeba-kaggle": "list_eval_partition.csv"}
IMAGE_DIR = "img_align_celeba"


class CelebAError(DatasetError):
    """The folder is not a readable CelebA copy."""


def _find(root: Path, name: str, depth: int = 2) -> Path | None:
    """`name` in root or up to `depth` folders below (official zips unpack to Anno/, Eval/, Img/)."""
    frontier = [root]
    for _ in range(depth + 1):
        for d in frontier:  # a whole level is checked before descending
            if (d / name).exists():
                return d / name
        nxt = []
        for d in frontier:
            if d.name == IMAGE_DIR and d != root:  # 200k jpgs, no label files below
                continue
            try:
                with os.scandir(d) as it:  # d_type: no stat per entry
                    nxt += sorted(Path(e.path) for e in it if e.is_dir() and not e.name.startswith("."))
            except OSError:
                pass
        frontier = nxt
    return None


def find_image_dir(root: Path) -> Path | None:
    """The deepest img_align_celeba folder that holds the .jpg files (Kaggle nests it twice)."""
    found = _find(root, IMAGE_DIR)
    while found is not None and (found / IMAGE_DIR).is_dir():
        found = found / IMAGE_DIR
    return found


def detect_layout(root: str | Path) -> tuple[str, Path]:
    """Return (layout, attribute file) for a CelebA folder, or raise CelebAError saying what is missing."""
    root = Path(root)
    if not root.exists():
        raise CelebAError(f"CelebA folder {root} does not exist")
    if root.is_file() and root.name in ATTR_FILES.values():
        layout = next(k for k, v in ATTR_FILES.items() if v == root.name)
        return layout, root
    for layout, name in ATTR_FILES.items():
        found = _find(root, name)
        if found is not None:
            return layout, found
    raise CelebAError(f"No CelebA attribute file in {root}: expected {ATTR_FILES['celeba-official']} "
                      f"(official layout) or {ATTR_FILES['celeba-kaggle']} (Kaggle layout)")


def locate(root: str | Path) -> tuple[str, Path, Path, Path | None]:
    """(layout, attribute file, image folder, partition file or None) of a CelebA copy, without reading them."""
    root = Path(root)
    layout, attr_file = detect_layout(root)
    root = root if root.is_dir() else attr_file.parent
    image_dir = find_image_dir(root) or find_image_dir(attr_file.parent)
    if image_dir is None:
        raise CelebAError(f"No {IMAGE_DIR}/ image folder found in {root}")
    part_file = (_find(root, PARTITION_FILES[layout]) or _find(root, PARTITION_FILES["celeba-official"])
                 or _find(root, PARTITION_FILES["celeba-kaggle"]))
    return layout, attr_file, image_dir, part_file


def _header_names(tokens: list[str], where: str) -> list[str]:
    """Canonical attribute names of a header line; any unknown token means this is not a CelebA file."""
    names = [canonical_name(t) for t in tokens]
    bad = [t for t, n in zip(tokens, names) if n is None]
    if not tokens or bad:
        shown = " ".join(tokens[:6]) + (" …" if len(tokens) > 6 else "")
        raise CelebAError(f"{where}: not a CelebA attribute header (expected names such as "
                          f"5_o_Clock_Shadow Arched_Eyebrows …; got {shown!r}"
                          f"{f', unknown {bad[:3]}' if bad else ''})")
    if len(set(names)) != len(names):
        raise CelebAError(f"{where}: attribute header lists a name twice")
    return names


def _rows_official(path: Path):
    """Yield (line number, id, value tokens) of list_attr_celeba.txt after validating its header."""
    with open(path, encoding="utf-8-sig", errors="replace") as f:  # -sig: a byte-order mark is valid UTF-8
        lines = f.read().splitlines()
    i, declared = 0, None
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i < len(lines) and lines[i].strip().isdigit():
        declared = int(lines[i].strip())
        i += 1
    if i >= len(lines):
        raise CelebAError(f"{path}: no attribute header (the file is empty or has only a count line)")
    names = _header_names(lines[i].split(), f"{path}:{i + 1}")

    def rows():
        for j in range(i + 1, len(lines)):
            parts = lines[j].split()
            if parts:
                yield j + 1, parts[0], parts[1:]
    return names, declared, rows()


def _rows_kaggle(path: Path):
    """Yield (line number, id, value tokens) of list_attr_celeba.csv after validating its header."""
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
        table = list(csv.reader(f))
    if not table:
        raise CelebAError(f"{path}: empty attribute file")
    header = [h.strip() for h in table[0]]
    if not header or header[0].lower() not in ("image_id", "image", "filename", "file"):
        raise CelebAError(f"{path}:1: not a CelebA attribute header (expected 'image_id,5_o_Clock_Shadow,…', "
                          f"got {','.join(header[:4])!r})")
    names = _header_names(header[1:], f"{path}:1")

    def rows():
        for j, row in enumerate(table[1:], start=2):
            if row and any(c.strip() for c in row):
                yield j, row[0].strip(), [c.strip() for c in row[1:]]
    return names, None, rows()


def _read_partition(path: Path | None, problems: Problems) -> dict[str, int]:
    """id → split from list_eval_partition.{txt,csv}; malformed rows are counted, not fatal."""
    out: dict[str, int] = {}
    if path is None:
        return out
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        lines = f.read().splitlines()
    for j, line in enumerate(lines, start=1):
        parts = [p.strip() for p in (line.split(",") if path.suffix == ".csv" else line.split())]
        if not parts or not parts[0] or (j == 1 and parts[0].lower() in ("image_id", "image", "filename")):
            continue
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            problems.add("bad partition row", f"{path.name}:{j}", line.strip()[:60])
            continue
        out[parts[0]] = int(parts[1])
    return out


_PLUS_MINUS_ONE = frozenset(("1", "-1", "+1"))  # the values a CelebA attribute column may hold


def read_celeba(root: str | Path, attrs: list[str] | None = None, check_files: bool = True) -> LabeledImages:
    """Read a CelebA folder (either layout) into LabeledImages over `attrs` (default: all 40, file order).

    Bad rows (wrong value count, values other than ±1, duplicate ids, missing image files) are left out
    and counted in `.problems`; a file with no valid header raises CelebAError.
    """
    layout, attr_file, image_dir, part_file = locate(root)
    root = Path(root)
    root = root if root.is_dir() else attr_file.parent
    names, declared, rows = (_rows_official if layout == "celeba-official" else _rows_kaggle)(attr_file)
    wanted = check_names(list(attrs), CELEBA_ATTRIBUTES) if attrs else list(names)  # unknown → error with close matches
    missing_cols = [a for a in wanted if a not in names]
    if missing_cols:
        raise CelebAError(f"{attr_file}: has no column for {', '.join(missing_cols)}")
    cols = np.array([names.index(a) for a in wanted], dtype=np.int64)
    on_disk = set(os.listdir(image_dir)) if check_files else None

    problems = Problems()
    ids: list[str] = []
    rows_pm: list[list[int]] = []
    seen: dict[str, int] = {}
    n_rows = 0
    fname = attr_file.name
    for line_no, image_id, values in rows:
        n_rows += 1
        where = f"{fname}:{line_no}"
        if len(values) != len(names):
            problems.add("wrong number of values", where, f"expected {len(names)}, got {len(values)}")
            continue
        if not _PLUS_MINUS_ONE.issuperset(values):
            bad = next(v for v in values if v not in ("1", "-1", "+1"))
            problems.add("value other than ±1", where, f"{bad!r}")
            continue
        if image_id in seen:
            problems.add("duplicate id", where, f"{image_id} first on line {seen[image_id]}")
            continue
        seen[image_id] = line_no
        if on_disk is not None and image_id not in on_disk:
            problems.add("missing image file", where, image_id)
            continue
        ids.append(image_id)
        rows_pm.append([1 if values[c] != "-1" else 0 for c in cols])

    notes = []
    if declared is not None and declared != n_rows:
        notes.append(f"{fname}: count line says {declared} rows, file has {n_rows}")
    if not ids:
        raise CelebAError(f"{attr_file}: no usable rows ({problems.total} rejected: "
                          f"{', '.join(f'{k} ×{v}' for k, v in problems.as_dict().items()) or 'file has no rows'})")

    # Splits from the partition file (0 train, 1 val, 2 test); ids it lacks fall back to the hash split.
    partition = _read_partition(part_file, problems)
    split = np.empty(len(ids), dtype=np.uint8)
    unassigned = 0
    for k, image_id in enumerate(ids):
        s = partition.get(image_id)
        if s is None:
            s, unassigned = hash_split(image_id), unassigned + 1
        split[k] = s
    if part_file is None:
        split_source = "hash 90/5/5 (no partition file)"
    else:
        split_source = part_file.name
        if unassigned:
            notes.append(f"{part_file.name}: {unassigned} ids not listed; split by hash 90/5/5")

    attrs_arr = np.asarray(rows_pm, dtype=np.uint8).reshape(len(ids), len(cols))  # (N, K)
    return LabeledImages(
        root=root, layout=layout, paths=[os.path.join(image_dir, i) for i in ids], ids=ids, attribute_names=wanted,
        attrs=attrs_arr, split=split, split_source=split_source,
        label_files=[p for p in (attr_file, part_file) if p is not None], image_dirs=[image_dir],
        problems=problems, notes=notes)
