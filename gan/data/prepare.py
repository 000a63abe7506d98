"""`--data` specs and `python -m gan prepare`: read a dataset, crop and resize it into a FaceCache (resumable).

Specs: `synthetic[:N]` (built-in renderer, default 20000 faces, seed 0), `celeba:PATH` (official or Kaggle
layout), `folder:PATH` (images + attribute CSV), `cache:DIR` (an already prepared cache).
Work is done in chunks of rows, decoded on all cores by a process pool (in-process for small jobs), each worker
writing its rows straight into a memory-mapped images.npy in `.NAME.partial-FINGERPRINT-…/` beside the output; a
killed run redoes only unfinished chunks, and the file becomes the cache's without a copy (gan/data/chunks.py).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gan.attributes import check_names
from gan.data import chunks
from gan.data import crop as cropping
from gan.data.cache import CacheError, FaceCache, write_cache
from gan.data.imagefiles import DatasetError, LabeledImages, Problems
from gan.paths import cache_root

DEFAULT_SIZE = 64           # output resolution (size × size)
SYNTHETIC_COUNT = 20000     # faces in `synthetic` without :N
MAX_SYNTHETIC_COUNT = 1_000_000  # at most this many synthetic faces (~12 GB at 64 px)
SYNTHETIC_SEED = 0
CHUNK_SIZE = 2048           # images per resumable chunk
PARTIAL_FORMAT = 2          # layout of the partial folder (2: one images.npy + per-chunk markers)
PREPARE_VERSION = 1         # bump when processing changes, so old caches are rebuilt
KINDS = ("synthetic", "celeba", "folder", "cache")


@dataclass(frozen=True)
class DataSpec:
    """A parsed `--data` value."""

    kind: str                   # synthetic | celeba | folder | cache
    path: Path | None = None    # dataset / cache folder (None for synthetic)
    count: int | None = None    # synthetic: number of faces

    def __str__(self) -> str:
        if self.kind == "synthetic":
            return f"synthetic:{self.count}"
        return f"{self.kind}:{self.path}"


def parse_spec(spec: str | DataSpec) -> DataSpec:
    """Parse `synthetic[:N]`, `celeba:PATH`, `folder:PATH` or `cache:DIR`; raises ValueError with the forms."""
    if isinstance(spec, DataSpec):
        return spec
    text = (spec or "").strip()
    kind, sep, rest = text.partition(":")
    kind = kind.lower()
    usage = "use synthetic[:N], celeba:PATH, folder:PATH or cache:DIR"
    if kind == "synthetic":
        if not sep or not rest.strip():
            return DataSpec("synthetic", count=SYNTHETIC_COUNT)
        if not rest.strip().isdigit() or not 1 <= int(rest) <= MAX_SYNTHETIC_COUNT:
            raise ValueError(f"Bad --data {text[:60]!r}: synthetic:N needs a whole number of faces in "
                             f"[1, {MAX_SYNTHETIC_COUNT:,}]")
        return DataSpec("synthetic", count=int(rest))
    if kind in ("celeba", "folder", "cache") and sep:
        if not rest.strip():
            raise ValueError(f"Bad --data {text!r}: {kind}: needs a path")
        return DataSpec(kind, path=Path(rest.strip()).expanduser().resolve())
    raise ValueError(f"Unknown --data {text!r}: {usage}")


# ---------------------------------------------------------------- sources

@dataclass
class _Source:
    """Everything prepare needs from a spec: the item list, labels, settings and fingerprints."""

    spec: DataSpec
    layout: str
    crop: str
    size: int
    attribute_names: list[str]
    count: int                       # items before decoding (rows that passed the reader)
    table: LabeledImages | None      # None for synthetic
    columns: list[int] | None        # synthetic: columns of the renderer's attributes kept
    problems: Problems
    notes: list[str]
    settings: dict[str, Any]

    def source_fingerprint(self) -> str:
        """Hash of the file list + sizes + mtimes + label-file contents + settings (keys the partial folder)."""
        h = hashlib.sha256(json.dumps(self.settings, sort_keys=True).encode())
        if self.table is not None:
            for p in self.table.label_files:
                h.update(p.name.encode() + hashlib.sha256(p.read_bytes()).digest())
            for image_id, p in zip(self.table.ids, self.table.paths):
                st = os.stat(p)
                h.update(f"{image_id}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        return h.hexdigest()[:16]


def _quick_key(request: dict[str, Any], files: list[Path]) -> str:
    """Cheap change detector: the request + (size, mtime) of label files and image folders — no per-image stat.

    A folder's mtime changes when files are added, removed or renamed in it; an image edited in place
    keeps the old cache (use --force).
    """
    h = hashlib.sha256(json.dumps(request, sort_keys=True).encode())
    for p in files:
        st = p.stat()
        h.update(f"{p}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def _request(spec: DataSpec, size: int, attrs: list[str] | None, crop: str | None) -> dict[str, Any]:
    """The settings as asked for (validated, canonical), before any label file is read."""
    if not (8 <= int(size) <= 1024):
        raise ValueError(f"--size {size} is out of range (8 … 1024)")
    req: dict[str, Any] = dict(kind=spec.kind, size=int(size), attrs=list(attrs) if attrs else None,
                               version=PREPARE_VERSION)
    if spec.kind == "synthetic":
        synthetic = _synthetic_module()
        if crop not in (None, "none"):
            raise ValueError("Synthetic faces are already framed; leave --crop out (or use none)")
        req.update(count=spec.count, seed=SYNTHETIC_SEED, crop="none",
                   renderer=hashlib.sha256(Path(synthetic.__file__).read_bytes()).hexdigest()[:12])  # renderer edits rebuild
    else:
        req.update(path=str(spec.path), crop=cropping.check_mode(crop or "center"))
    return req


def _locate(spec: DataSpec) -> list[Path]:
    """Label files and image folders of a spec, found without reading them (the quick key's inputs)."""
    if spec.kind == "celeba":
        from gan.data.celeba import locate
        _, attr_file, image_dir, part_file = locate(spec.path)
        return [p for p in (attr_file, part_file) if p is not None] + [image_dir]
    return []


def _synthetic_module():
    try:
        from gan.data import synthetic
    except ModuleNotFoundError as e:  # pragma: no cover - only while gan/data/synthetic.py is missing
        raise DatasetError("The synthetic renderer (gan/data/synthetic.py) is not available") from e
    return synthetic


def _resolve(spec: DataSpec, req: dict[str, Any]) -> _Source:
    """Read the dataset's label files (no image decoding yet)."""
    attrs = req["attrs"]
    if spec.kind == "synthetic":
        synthetic = _synthetic_module()
        names_all = list(synthetic.SYNTHETIC_ATTRIBUTES)
        names = check_names(list(attrs), tuple(names_all)) if attrs else names_all
        settings = dict(req, attribute_names=names)
        return _Source(spec, "synthetic", "none", req["size"], names, spec.count, None,
                       [names_all.index(n) for n in names], Problems(), [], settings)
    if spec.kind == "celeba":
        from gan.data.celeba import read_celeba
        table = read_celeba(spec.path, attrs)
    elif spec.kind == "folder":
        from gan.data.folder import read_folder
        table = read_folder(spec.path, attrs)
    else:
        raise ValueError(f"cannot prepare {spec}")
    settings = dict(req, layout=table.layout, attribute_names=list(table.attribute_names))
    return _Source(spec, table.layout, req["crop"], req["size"], list(table.attribute_names), len(table), table,
                   None, table.problems, list(table.notes), settings)


def default_out(spec: DataSpec, size: int = DEFAULT_SIZE, attrs: list[str] | None = None, crop: str | None = None) -> Path:
    """Cache folder under gan.paths.cache_root() named from the spec and settings."""
    if spec.kind == "synthetic":
        name = f"synthetic{spec.count}"
        crop = crop or "none"
    else:
        base = re.sub(r"[^A-Za-z0-9_.-]+", "_", spec.path.name or "root")[:40]
        name = f"{spec.kind}-{base}-{hashlib.sha1(str(spec.path).encode()).hexdigest()[:6]}"
        crop = crop or "center"
    tag = "all" if not attrs else hashlib.sha1(",".join(attrs).encode()).hexdigest()[:6]
    return cache_root() / f"{name}-{size}px-{crop.replace(':', '')}-{tag}"


# ---------------------------------------------------------------- chunked processing

def _job(src: _Source, start: int, stop: int, images_file: Path, data_offset: int) -> chunks.ChunkJob:
    paths = None if src.table is None else src.table.paths[start:stop]
    return chunks.ChunkJob(start, stop, src.size, src.crop, paths, str(images_file), data_offset, SYNTHETIC_SEED)


def _chunk_result(src: _Source, raw: dict[str, Any]) -> dict[str, Any]:
    """A worker's answer → the chunk marker's content: kept indices, their labels (N_kept, K) uint8, skips."""
    keep = raw["keep"]
    if src.table is None:
        attrs = np.asarray(raw["labels"], np.uint8)[:, src.columns]
    else:
        attrs = src.table.attrs[keep] if len(keep) else src.table.attrs[:0]
    return dict(attrs=attrs, keep=keep, skipped=raw["skipped"])


def _process_chunk(src: _Source, start: int, stop: int, images_file: Path, data_offset: int,
                   on_item=None) -> dict[str, Any]:
    """In-process: decode + crop items [start, stop) into the image file; returns the chunk marker's content."""
    return _chunk_result(src, chunks.run_chunk(_job(src, start, stop, images_file, data_offset), on_item))


def _open_if_current(out: Path, quick_key: str) -> FaceCache | None:
    """The existing cache at `out` when it was built from the same source and settings, else None."""
    try:
        manifest = json.loads((out / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("quick_key") != quick_key:
        return None
    try:
        return FaceCache.open(out)
    except CacheError:
        return None


def prepare(spec: str | DataSpec, size: int = DEFAULT_SIZE, attrs: list[str] | None = None, crop: str | None = None,
            out: str | Path | None = None, progress: bool = True, force: bool = False,
            chunk_size: int = CHUNK_SIZE, workers: int | None = None) -> FaceCache:
    """Build (or reuse, when unchanged and not `force`) the cache for a dataset spec and return it opened.
    workers: decoding processes (default GAN_PREPARE_WORKERS, else every usable core; small jobs run in-process)."""
    spec = parse_spec(spec)
    if spec.kind == "cache":
        return FaceCache.open(spec.path)
    if isinstance(attrs, str):
        attrs = [a for a in re.split(r"[,;]", attrs) if a.strip()]
    req = _request(spec, size, attrs, crop)
    out = Path(out) if out else default_out(spec, req["size"], attrs, req["crop"])
    if not force and spec.kind in ("synthetic", "celeba"):
        # Reuse check before parsing 200k label rows: it only needs the files' locations.
        existing = _open_if_current(out, _quick_key(req, _locate(spec)))
        if existing is not None:
            return existing
    src = _resolve(spec, req)
    quick = _quick_key(req, src.table.label_files + src.table.image_dirs if src.table else [])
    if not force:
        existing = _open_if_current(out, quick)
        if existing is not None:
            return existing

    # Chunks of finished work live beside the output, keyed by the source fingerprint.
    fingerprint = src.source_fingerprint()
    partial = out.parent / f".{out.name}.partial-{fingerprint}-c{chunk_size}-v{PARTIAL_FORMAT}"
    partial.mkdir(parents=True, exist_ok=True)
    images_file, data_offset = chunks.open_images_file(partial, src.count, src.size)  # (count, H, W, 3), rows by item index
    n_chunks = (src.count + chunk_size - 1) // chunk_size
    bounds = [(c * chunk_size, min(src.count, (c + 1) * chunk_size)) for c in range(n_chunks)]
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=src.count, desc=f"prepare {spec.kind}", unit="img", file=sys.stderr)
    results: dict[int, dict[str, Any]] = {}  # chunk → marker content
    for c in range(n_chunks):  # finished chunks (their markers) are reused, never redone
        result = chunks.load_marker(partial, c)
        if result is not None:
            results[c] = result
            if bar is not None:
                bar.update(bounds[c][1] - bounds[c][0])
    reused = len(results)
    todo = [c for c in range(n_chunks) if c not in results]
    workers = chunks.pool_workers(sum(bounds[c][1] - bounds[c][0] for c in todo), len(todo), workers)
    if workers <= 1:
        for c in todo:
            results[c] = _process_chunk(src, *bounds[c], images_file, data_offset, bar.update if bar is not None else None)
            chunks.save_marker(partial, c, results[c])
    else:  # decode on all cores: each worker writes its chunk's rows, this process writes the markers
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=chunks.worker_init) as pool:
            try:
                pending = {pool.submit(chunks.run_chunk, _job(src, *bounds[c], images_file, data_offset)): c for c in todo}
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        c = pending.pop(fut)
                        results[c] = _chunk_result(src, fut.result())
                        chunks.save_marker(partial, c, results[c])
                        if bar is not None:
                            bar.update(bounds[c][1] - bounds[c][0])
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    if bar is not None:
        bar.close()

    # Assemble in place: kept rows move down over skipped ones; labels and ids are small and sit in RAM.
    order = [results[c] for c in range(n_chunks)]
    n = sum(len(ch["keep"]) for ch in order)
    if n == 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise DatasetError(f"No usable images in {spec}: "
                           + ", ".join(f"{k} ×{v}" for k, v in _skips(src, order).as_dict().items()))
    moves, pos = [], 0
    for (start, _), ch in zip(bounds, order):
        moves.append((start, pos, len(ch["keep"])))
        pos += len(ch["keep"])
    if n != src.count:
        chunks.compact(images_file, data_offset, src.size * src.size * 3, moves, n)
    attrs_all = np.concatenate([ch["attrs"] for ch in order]).astype(np.uint8).reshape(n, len(src.attribute_names))  # (N, K)
    keep_all = np.concatenate([ch["keep"] for ch in order]).astype(np.int64)                                      # (N,)
    if src.table is None:
        split = (keep_all % 20 >= 18).astype(np.uint8) + (keep_all % 20 == 19).astype(np.uint8)  # 18/20 train, 1 val, 1 test
        ids = [f"synthetic:{SYNTHETIC_SEED}:{i}" for i in keep_all]
    else:
        split = src.table.split[keep_all]
        ids = [src.table.ids[i] for i in keep_all]
    problems = _skips(src, order)
    manifest = dict(source=str(spec), layout=src.layout, crop=src.crop, size=src.size,
                    attribute_names=list(src.attribute_names), count=n, skipped=problems.as_dict(),
                    skipped_examples=problems.examples, notes=src.notes, source_fingerprint=fingerprint,
                    quick_key=quick, split_source=src.table.split_source if src.table else "index 90/5/5",
                    settings=src.settings, prepared=time.strftime("%Y-%m-%dT%H:%M:%S"),
                    resumed_chunks=reused, processed_chunks=len(todo), workers=workers)
    write_cache(out, images_file, attrs_all, split, ids, manifest)  # moves the file in: no copy
    for old in out.parent.glob(f".{out.name}.partial-*"):  # this run's and any stale ones (source changed)
        shutil.rmtree(old, ignore_errors=True)
    return FaceCache.open(out)


def _skips(src: _Source, chunks: list[dict[str, Any]]) -> Problems:
    """Reader problems (bad rows) plus per-image ones (decode / no face) as one Problems."""
    problems = Problems()
    problems.merge(src.problems)
    for ch in chunks:
        for i, reason, detail in ch["skipped"]:
            problems.add(reason, f"{src.table.ids[i] if src.table else i}:", detail)
    return problems


def open_source(spec: str | DataSpec, size: int = DEFAULT_SIZE, attrs: list[str] | None = None,
                crop: str | None = None, out: str | Path | None = None) -> FaceCache:
    """A ready FaceCache for any spec: `cache:DIR` opens it, others reuse an unchanged cache or prepare one."""
    return prepare(spec, size=size, attrs=attrs, crop=crop, out=out, progress=False)


# ---------------------------------------------------------------- CLI

def add_cli(subparsers) -> None:
    p = subparsers.add_parser(
        "prepare", help="read a dataset, crop and resize it into a cache",
        description="Read a dataset, crop faces, resize and store them as a memory-mapped cache. "
                    "Unchanged sources reuse the existing cache; interrupted runs resume.")
    from gan import cli_types as ct

    p.add_argument("--data", required=True, type=ct.data_spec,
                   help="synthetic[:N] (built-in faces, default 20000), celeba:PATH (official or Kaggle layout), "
                        "folder:PATH (images + attribute CSV) or cache:DIR")
    p.add_argument("--attrs", default=None,
                   help="comma-separated attributes to keep, e.g. 'Smiling,Male,Eyeglasses' (default: all in the source)")
    p.add_argument("--size", type=ct.int_range(8, 1024), default=DEFAULT_SIZE, help=f"output resolution in pixels (default {DEFAULT_SIZE})")
    p.add_argument("--crop", default=None,
                   help="center (default for photos; center:N crops an N×N centre square first), "
                        "mtcnn-face (tight face box), mtcnn-context (face box plus margin), none (synthetic)")
    p.add_argument("--out", type=ct.output_dir, default=None, help="cache folder (default: under the workspace cache/, named from the settings)")
    p.add_argument("--force", action="store_true", help="rebuild even when an up-to-date cache exists")
    p.add_argument("--workers", type=ct.int_range(1, 256), default=None,
                   help="decoding processes (default: GAN_PREPARE_WORKERS, else every usable core)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    attrs = [a.strip() for a in re.split(r"[,;]", args.attrs) if a.strip()] if args.attrs else None
    t0 = time.time()
    try:
        cache = prepare(args.data, size=args.size, attrs=attrs, crop=args.crop, out=args.out,
                        progress=not args.no_progress, force=args.force, workers=args.workers)
    except (DatasetError, CacheError, ValueError, OSError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"error: {msg}", file=sys.stderr)
        return 2
    m = cache.manifest
    built = (cache.root / "manifest.json").stat().st_mtime >= t0
    print(("built" if built else "up to date (reused)") + f": {m['count']} faces ({m.get('size')}px, crop {m.get('crop')}, {len(cache.attribute_names)} attributes) "
          f"in {cache.root}  [{time.time() - t0:.1f} s]")
    skipped = m.get("skipped") or {}
    if skipped:
        print("skipped: " + ", ".join(f"{k} ×{v}" for k, v in skipped.items()))
    print(f"fingerprint {cache.fingerprint}  source {m.get('source_fingerprint')}")
    return 0
