"""Resumable chunked decoding for `prepare`: workers write rows straight into a memory-mapped images.npy.

A job's partial folder holds one `images.npy` of (count, H, W, 3) uint8, created sparse, where chunk c's kept rows go
at rows start_c, start_c + 1, … (plain pwrites of WRITE_ROWS rows, so a worker holds only those), and one
`chunk_NNNNN.npz` marker per finished chunk (kept item indices, labels, skips), written atomically after its rows.
A killed job redoes only chunks without a marker. `compact` then moves kept rows down over skipped ones and rewrites
the .npy header, so the file becomes the cache's images.npy without a copy.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gan.atomic import atomic_write
from gan.data import crop as cropping
from gan.data.cache import CacheError
from gan.data.imagefiles import ImageFileError, open_image

WRITE_ROWS = 64             # rows a worker decodes before writing them to the image file (bounds its memory)
MIN_POOL_ITEMS = 4096       # smaller jobs run in-process (starting worker processes costs ~1 s)


@dataclass(frozen=True)
class ChunkJob:
    """What a worker needs for rows [start, stop): only this chunk's file paths travel, not the whole table."""

    start: int
    stop: int
    size: int
    crop: str
    paths: list[str] | None       # image files of the chunk; None for the synthetic renderer
    images_file: str              # the partial images.npy (N, H, W, 3) uint8
    data_offset: int              # byte offset of row 0 in that file
    seed: int = 0                 # synthetic: the renderer's dataset seed


def render_rows(job: ChunkJob, on_rows=None):
    """Yield (rows (n, H, W, 3) uint8, their item indices, synthetic labels or None) in groups of WRITE_ROWS,
    and collect skips in the returned list: (item index, reason, detail)."""
    skipped: list[tuple[int, str, str]] = []

    def groups():
        if job.paths is None:  # synthetic: already framed faces from the renderer
            from gan.data import synthetic
            for b0 in range(job.start, job.stop, WRITE_ROWS):
                n = min(job.stop, b0 + WRITE_ROWS) - b0
                images, labels = synthetic.render_batch(job.seed, b0, n, job.size)  # (n,H,W,3), (n,K)
                yield images, np.arange(b0, b0 + n, dtype=np.int64), labels
                if on_rows is not None:
                    on_rows(n)
            return
        # Sub-batches bound memory (a few full-size photos decoded at once) and feed MTCNN in batches.
        step = cropping.DETECT_BATCH if cropping.uses_mtcnn(job.crop) else WRITE_ROWS
        for b0 in range(job.start, job.stop, step):
            decoded: list[tuple[int, Any]] = []
            for i in range(b0, min(job.stop, b0 + step)):
                try:
                    decoded.append((i, open_image(job.paths[i - job.start])))
                except ImageFileError as e:
                    skipped.append((i, e.reason, e.detail))
            faces = None
            if cropping.uses_mtcnn(job.crop) and decoded:
                faces = cropping.detect_faces_batch([im for _, im in decoded])
            out, keep = [], []
            for k, (i, im) in enumerate(decoded):
                face_img = cropping.crop_image(im, job.crop, job.size, faces[k] if faces is not None else None)
                if face_img is None:
                    skipped.append((i, "no face found", ""))
                    continue
                out.append(np.asarray(face_img.convert("RGB"), dtype=np.uint8))
                keep.append(i)
            if out:
                yield np.stack(out), np.asarray(keep, np.int64), None
            if on_rows is not None:
                on_rows(min(job.stop, b0 + step) - b0)

    return groups(), skipped


def run_chunk(job: ChunkJob, on_rows=None) -> dict[str, Any]:
    """Decode + crop one chunk and write its kept rows to the image file at rows start, start+1, … (in a worker
    process or in-process). Returns the kept item indices, synthetic labels (else None) and the skips."""
    row_bytes = job.size * job.size * 3
    groups, skipped = render_rows(job, on_rows)
    keep, labels = [], []
    fd = os.open(job.images_file, os.O_WRONLY)
    try:
        pos = job.start
        for rows, idx, lab in groups:
            os.pwrite(fd, np.ascontiguousarray(rows, dtype=np.uint8).tobytes(), job.data_offset + pos * row_bytes)
            pos += len(rows)
            keep.append(idx)
            if lab is not None:
                labels.append(lab)
    finally:
        os.close(fd)
    return dict(keep=np.concatenate(keep) if keep else np.zeros(0, np.int64),
                labels=np.concatenate(labels) if labels else None, skipped=sorted(skipped))


def worker_init() -> None:
    """Worker processes: one torch thread each (MTCNN), so N workers use N cores, not N × cores."""
    os.environ["OMP_NUM_THREADS"] = "1"


def save_marker(partial: Path, index: int, result: dict[str, Any]) -> None:
    """Mark one chunk finished (its rows are already in images.npy): atomic, so a crash never leaves half a marker."""
    with atomic_write(partial / f"chunk_{index:05d}.npz") as f:
        np.savez(f, attrs=result["attrs"], keep=result["keep"], skipped=np.array(json.dumps(result["skipped"])))


def load_marker(partial: Path, index: int) -> dict[str, Any] | None:
    path = partial / f"chunk_{index:05d}.npz"
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return dict(attrs=z["attrs"], keep=z["keep"], skipped=json.loads(str(z["skipped"])))
    except (OSError, ValueError, KeyError):  # damaged marker: redo the chunk
        return None


def open_images_file(partial: Path, count: int, size: int) -> tuple[Path, int]:
    """The partial (count, size, size, 3) uint8 images.npy (sparse on creation) and its data offset; a file of
    another shape (or an unreadable one) is recreated and every chunk marker dropped."""
    path = partial / "images.npy"
    shape = (count, size, size, 3)
    try:
        with open(path, "rb") as f:
            _, got, dtype, offset = npy_header(f)
        if tuple(got) == shape and dtype == np.uint8 and path.stat().st_size == offset + int(np.prod(shape)):
            return path, offset
    except (OSError, ValueError):
        pass
    for marker in partial.glob("chunk_*.npz"):
        marker.unlink()
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape)
    offset = mm.offset
    del mm
    return path, offset


def npy_header(f) -> tuple[tuple[int, int], tuple[int, ...], np.dtype, int]:
    """(version, shape, dtype, data offset) of an open .npy file."""
    version = np.lib.format.read_magic(f)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read(f)
    return version, tuple(shape), dtype, f.tell()


def compact(path: Path, data_offset: int, row_bytes: int, moves: list[tuple[int, int, int]], n: int) -> None:
    """Move row blocks (src row, dst row, rows) down (dst ≤ src, in order), then rewrite the .npy header for n rows
    (padded to its old length) and truncate: the file becomes a valid (n, H, W, 3) array. Plain reads and writes
    of ≤ 64 MB, so memory stays flat."""
    block = max(1, (64 << 20) // row_bytes)
    fd = os.open(path, os.O_RDWR)
    try:
        for src_row, dst_row, rows in moves:
            if src_row == dst_row:
                continue
            for k in range(0, rows, block):
                m = min(block, rows - k)
                buf = os.pread(fd, m * row_bytes, data_offset + (src_row + k) * row_bytes)
                os.pwrite(fd, buf, data_offset + (dst_row + k) * row_bytes)
        with open(path, "rb") as f:
            version, shape, _, _ = npy_header(f)
        header = repr({"descr": "|u1", "fortran_order": False, "shape": (n,) + tuple(shape[1:])})
        magic = np.lib.format.magic(*version)
        length_bytes = 2 if version == (1, 0) else 4
        room = data_offset - len(magic) - length_bytes
        text = header.ljust(room - 1) + "\n"
        if len(text) != room:  # cannot happen: a shorter shape never needs more characters
            raise CacheError("npy header does not fit")
        os.pwrite(fd, magic + room.to_bytes(length_bytes, "little") + text.encode("latin1"), 0)
        os.ftruncate(fd, data_offset + n * row_bytes)
    finally:
        os.close(fd)


def pool_workers(todo_items: int, todo_chunks: int, workers: int | None = None) -> int:
    """Worker processes for a job: `workers` or GAN_PREPARE_WORKERS when given, else every core this process may use
    for jobs of MIN_POOL_ITEMS or more (1, in-process, below); never more than the chunks left to do."""
    explicit = workers or int(os.environ.get("GAN_PREPARE_WORKERS", "0") or 0)
    if not explicit and todo_items < MIN_POOL_ITEMS:
        return 1
    return max(1, min(int(explicit or len(os.sched_getaffinity(0))), todo_chunks))
