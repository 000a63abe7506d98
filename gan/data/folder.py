"""Generic dataset reader: a folder of images plus an attribute CSV (file name column, then 0/1 or -1/1 columns).

The file-name column is the one named file/filename/image/image_id/path, else the first column. Attribute
columns may have any names: CelebA's names are canonicalised ("smiling" → "Smiling"), others kept as-is.
A `split`/`partition` column (0/1/2 or train/val/test) sets the split, otherwise a hash-based 90/5/5.
Without any CSV the folder's images load with no attributes (K = 0).
"""
from __future__ import annotations

import csv
from pathlib import Path, PurePosixPath

import numpy as np

from gan.attributes import CELEBA_ATTRIBUTES, canonical_name, check_names
from gan.data.imagefiles import DatasetError, LabeledImages, Problems, hash_split, list_images

FILE_COLUMNS = ("file", "filename", "file_name", "image", "image_id", "image_name", "path", "image_path")
SPLIT_COLUMNS = ("split", "partition")
PREFERRED_CSV = ("attributes.csv", "attrs.csv", "labels.csv", "list_attr.csv", "metadata.csv")
_VALUES = {"1": 1, "+1": 1, "1.0": 1, "0": 0, "0.0": 0, "-1": 0, "-1.0": 0}
_SPLITS = {"0": 0, "train": 0, "training": 0, "1": 1, "val": 1, "valid": 1, "validation": 1, "2": 2, "test": 2}


class FolderError(DatasetError):
    """The folder / CSV cannot be read as a dataset."""


def find_csv(root: Path) -> Path | None:
    """The attribute CSV of a folder: a conventional name, else the only .csv there; several → error."""
    found = sorted(p for p in root.glob("*.csv") if p.is_file())
    for name in PREFERRED_CSV:
        for p in found:
            if p.name.lower() == name:
                return p
    if len(found) > 1:
        raise FolderError(f"{root} holds several CSV files ({', '.join(p.name for p in found)}); "
                          f"name one (folder:{found[0]}) or call it attributes.csv")
    return found[0] if found else None


def _canonical(name: str) -> str:
    """CelebA spelling for CelebA names, the column's own name otherwise."""
    return canonical_name(name) or name.strip()


def _read_table(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
        sample = f.read(8192)
        f.seek(0)
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        return [[c.strip() for c in row] for row in csv.reader(f, dialect)]


def read_folder(root: str | Path, attrs: list[str] | None = None) -> LabeledImages:
    """Read an image folder (+ attribute CSV) into LabeledImages; `root` may also name the CSV itself."""
    root = Path(root)
    if not root.exists():
        raise FolderError(f"Folder {root} does not exist")
    csv_path = root if root.is_file() else find_csv(root)
    if root.is_file():
        if root.suffix.lower() != ".csv":
            raise FolderError(f"{root} is neither a folder nor a .csv attribute file")
        root = root.parent
    if csv_path is None:
        return _read_unlabelled(root, attrs)

    table = _read_table(csv_path)
    if not table or not any(table[0]):
        raise FolderError(f"{csv_path}: empty attribute file")
    header = table[0]
    lower = [h.lower() for h in header]
    file_col = next((lower.index(c) for c in FILE_COLUMNS if c in lower), 0)
    split_col = next((lower.index(c) for c in SPLIT_COLUMNS if c in lower), None)
    attr_cols = [j for j in range(len(header)) if j not in (file_col, split_col)]
    body = [(j, row) for j, row in enumerate(table[1:], start=2) if any(row)]
    notes = []

    # Columns where no row holds a 0/1/±1 value are not labels (e.g. a "notes" or "width" column) — unless the
    # column has a CelebA attribute's name: then it is meant as labels, and out-of-range rows are refused below.
    label_cols = []
    for c in attr_cols:
        if _canonical(header[c]) in CELEBA_ATTRIBUTES or any(c < len(row) and row[c] in _VALUES for _, row in body):
            label_cols.append(c)
        else:
            notes.append(f"{csv_path.name}: column {header[c]!r} holds no 0/1 values; ignored")
    names = [_canonical(header[c]) for c in label_cols]
    if len(set(names)) != len(names):
        raise FolderError(f"{csv_path}:1: an attribute column appears twice ({', '.join(names)})")
    wanted = check_names(list(attrs), tuple(names)) if attrs else names  # unknown → error with close matches
    cols = [label_cols[names.index(a)] for a in wanted]

    problems = Problems()
    ids, paths, rows, splits = [], [], [], []
    seen: dict[str, int] = {}
    fname = csv_path.name
    for line_no, row in body:
        where = f"{fname}:{line_no}"
        if len(row) != len(header):
            problems.add("wrong number of values", where, f"expected {len(header)}, got {len(row)}")
            continue
        image_id = row[file_col]
        bad = next((row[c] for c in cols if row[c] not in _VALUES), None)
        if bad is not None:
            problems.add("value other than 0/1 or ±1", where, repr(bad))
            continue
        split = hash_split(image_id)
        if split_col is not None:
            if row[split_col].lower() not in _SPLITS:
                problems.add("bad split value", where, repr(row[split_col]))
                continue
            split = _SPLITS[row[split_col].lower()]
        if image_id in seen:
            problems.add("duplicate id", where, f"{image_id} first on line {seen[image_id]}")
            continue
        seen[image_id] = line_no
        rel = PurePosixPath(image_id.replace("\\", "/"))
        if not image_id or rel.is_absolute() or ".." in rel.parts:
            problems.add("path outside folder", where, image_id)
            continue
        path = root.joinpath(*rel.parts)
        if not path.is_file():
            problems.add("missing image file", where, image_id)
            continue
        ids.append(image_id)
        paths.append(path)
        rows.append([_VALUES[row[c]] for c in cols])
        splits.append(split)
    if not ids:
        detail = ", ".join(f"{k} ×{v}" for k, v in problems.as_dict().items()) or "no rows"
        raise FolderError(f"{csv_path}: no usable rows ({detail})")
    return LabeledImages(
        root=root, layout="folder-csv", paths=[str(p) for p in paths], ids=ids, attribute_names=wanted,
        attrs=np.asarray(rows, dtype=np.uint8).reshape(len(ids), len(cols)),
        split=np.asarray(splits, dtype=np.uint8),
        split_source=f"{fname} column {header[split_col]!r}" if split_col is not None else "hash 90/5/5",
        label_files=[csv_path], image_dirs=sorted({p.parent for p in paths}), problems=problems, notes=notes)


def _read_unlabelled(root: Path, attrs: list[str] | None) -> LabeledImages:
    """A plain image folder (searched recursively): every image, no attributes."""
    if attrs:
        raise FolderError(f"{root} has no attribute CSV, so --attrs {','.join(attrs)} cannot be read")
    paths = list_images(root)
    if not paths:
        raise FolderError(f"No images found in {root} (looked for {', '.join(('.jpg', '.png', '.webp', '…'))})")
    ids = [p.relative_to(root).as_posix() for p in paths]
    return LabeledImages(
        root=root, layout="folder", paths=[str(p) for p in paths], ids=ids, attribute_names=[],
        attrs=np.zeros((len(ids), 0), dtype=np.uint8), split=np.array([hash_split(i) for i in ids], dtype=np.uint8),
        split_source="hash 90/5/5", label_files=[], image_dirs=sorted({p.parent for p in paths}),
        notes=[f"{root}: no attribute CSV; images load without attributes"])
