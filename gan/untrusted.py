"""Bounded readers for untrusted files (uploads, bundles, latents .npz): every decode is capped, nothing is unpickled.

Each reader raises UntrustedFileError (a ValueError) with one message meant for the user; no other exception
escapes them (unsupported zip compression, encrypted members, corrupt streams, deep JSON, bombs):

    data = read_capped(upload, 50 * 2**20, "file")          # bytes, at most the cap (+1 byte read)
    zr = ZipReader(data, "bundle", max_members=1000, max_uncompressed=2**30)
    arr = zr.array("parts/0/z.npy")                          # a .npy member, header checked before loading
    manifest = parse_json(zr.read("manifest.json", 2**20), "manifest")   # nesting depth capped
    check_png(thumbnail, max_pixels=1024 * 1024)             # declared size checked before any decode
"""
from __future__ import annotations

import io
import json
import lzma
import os
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_JSON_DEPTH = 32  # nesting of objects/arrays in an untrusted JSON document

# What a corrupt or hostile zip member can raise while it is opened or inflated.
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, KeyError, RuntimeError,
               NotImplementedError, zlib.error, lzma.LZMAError, MemoryError, struct.error, OverflowError)


class UntrustedFileError(ValueError):
    """An untrusted file is malformed, too large or unsafe; the message says which and why."""


def read_capped(file: str | os.PathLike | bytes | BinaryIO, max_bytes: int, what: str = "file") -> bytes:
    """The bytes of a path, bytes object or file-like upload, refusing more than `max_bytes`."""
    if isinstance(file, (str, os.PathLike)):
        try:
            if os.path.getsize(file) > max_bytes:
                raise UntrustedFileError(f"the {what} is larger than {max_bytes // 2**20} MB")
            data = Path(file).read_bytes()
        except OSError as e:
            raise UntrustedFileError(f"cannot read {file}: {e}") from None
    elif isinstance(file, (bytes, bytearray, memoryview)):
        data = bytes(file)
    else:
        data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UntrustedFileError(f"the {what} is larger than {max_bytes // 2**20} MB")
    return data


def check_npy_header(f: BinaryIO, member_size: int, what: str) -> None:
    """Refuse a .npy whose header declares object dtype or more data than the member holds
    (numpy would allocate the declared size before noticing the file is short)."""
    try:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(f)
    except (ValueError, TypeError, SyntaxError, EOFError, OSError, RecursionError, MemoryError) as e:
        raise UntrustedFileError(f"{what} is not a valid .npy array: {e}") from None
    if dtype.hasobject:
        raise UntrustedFileError(f"{what} holds Python objects (needs pickle), which are refused")
    if int(np.prod(shape, dtype=np.float64)) * dtype.itemsize > member_size:
        raise UntrustedFileError(f"{what} declares shape {shape} but holds less data than that")


def load_npy(data: bytes, what: str) -> np.ndarray:
    """One .npy array from bytes, without pickle, its header checked first."""
    check_npy_header(io.BytesIO(data), len(data), what)
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError, MemoryError) as e:
        raise UntrustedFileError(f"{what} is not a valid array: {e}") from None


class ZipReader:
    """Named members of an untrusted zip, read with size caps; never touches the file system."""

    def __init__(self, data: bytes, what: str, max_members: int, max_uncompressed: int):
        self.what = what
        try:
            self.zf = zipfile.ZipFile(io.BytesIO(data))
            infos = self.zf.infolist()
        except _ZIP_ERRORS as e:
            raise UntrustedFileError(f"not a valid {what} (.zip) file: {e}") from None
        if len(infos) > max_members:
            raise UntrustedFileError(f"the {what} has {len(infos)} entries; the limit is {max_members}")
        if sum(i.file_size for i in infos) > max_uncompressed:
            raise UntrustedFileError(f"the {what} unpacks to more than {max_uncompressed // 2**20} MB")
        self.sizes = {i.filename: i.file_size for i in infos}

    def read(self, name: str, limit: int) -> bytes:
        """Member `name`, refused if it declares or inflates to more than `limit` bytes."""
        if name not in self.sizes:
            raise UntrustedFileError(f"the {self.what} is missing {name}")
        if self.sizes[name] > limit:
            raise UntrustedFileError(f"{name} in the {self.what} is too large")
        try:
            with self.zf.open(name) as f:
                data = f.read(limit + 1)  # bounded even if the header lies
        except _ZIP_ERRORS as e:  # encrypted, unsupported compression, corrupt stream…
            raise UntrustedFileError(f"{name} in the {self.what} cannot be read: {type(e).__name__}: {e}") from None
        if len(data) > limit:
            raise UntrustedFileError(f"{name} in the {self.what} is too large")
        return data

    def array(self, name: str, limit: int) -> np.ndarray:
        return load_npy(self.read(name, limit), f"{name} in the {self.what}")


def read_npz_arrays(file: str | os.PathLike | bytes | BinaryIO, max_bytes: int, max_uncompressed: int,
                    max_members: int = 64) -> dict[str, np.ndarray]:
    """Every array of an .npz, without pickle, with caps on the file and on its decompressed contents."""
    zr = ZipReader(read_capped(file, max_bytes, "file"), ".npz", max_members, max_uncompressed)
    if not all(n.endswith(".npy") for n in zr.sizes):
        raise UntrustedFileError("the .npz contains something other than arrays")
    return {n[:-4]: zr.array(n, max_uncompressed) for n in zr.sizes}


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)


def json_depth(data: bytes) -> int:
    """Deepest nesting of [ and { in a JSON text (strings skipped), without parsing it."""
    skeleton = np.frombuffer(_JSON_STRING.sub(b'""', data), dtype=np.uint8)
    step = np.zeros(256, np.int64)
    step[ord("[")] = step[ord("{")] = 1
    step[ord("]")] = step[ord("}")] = -1
    return int(np.cumsum(step[skeleton]).max(initial=0))


def parse_json(data: bytes, what: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """A JSON document from untrusted bytes: UTF-8, nesting at most `max_depth`, no NaN/Infinity."""
    if json_depth(data) > max_depth:
        raise UntrustedFileError(f"the {what} is nested more than {max_depth} levels deep")

    def refuse_constant(name: str) -> Any:
        raise ValueError(f"{name} is not allowed")
    try:
        return json.loads(data.decode("utf-8"), parse_constant=refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise UntrustedFileError(f"the {what} is not valid JSON: {e}") from None


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) declared by a PNG's IHDR chunk, read without decoding anything."""
    if len(data) < 24 or data[:8] != PNG_MAGIC or data[12:16] != b"IHDR":
        raise UntrustedFileError("not a PNG image")
    return struct.unpack(">II", data[16:24])


def check_png(data: bytes, max_pixels: int, max_bytes: int | None = None) -> tuple[int, int]:
    """Refuse a PNG that is too many bytes or declares more than `max_pixels` (a decompression bomb)."""
    if max_bytes is not None and len(data) > max_bytes:
        raise UntrustedFileError(f"a thumbnail is {len(data)} bytes; the limit is {max_bytes}")
    w, h = png_size(data)
    if w == 0 or h == 0 or w * h > max_pixels:
        raise UntrustedFileError(f"a thumbnail declares {w}×{h} pixels; the limit is {max_pixels} pixels")
    return w, h
