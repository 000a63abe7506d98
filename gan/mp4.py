"""MP4 (H.264) files: frames encoded by the ffmpeg binary that imageio-ffmpeg ships, with an optional comment in the
file's metadata, and that comment read back by walking the MP4 boxes (no decoder runs on an uploaded file).

    data = encode(frames, fps=8, comment='{"format": …}')   # (N, H, W, 3) uint8 → MP4 bytes, yuv420p, even size
    read_comment(data)                                      # → the comment, or None; VideoError if not a valid MP4

The comment is written as ffmpeg's `comment` tag, which its MP4 muxer stores at moov/udta/meta/ilst/©cmt/data.
"""
from __future__ import annotations

import struct
import subprocess
import tempfile
from pathlib import Path

import numpy as np

COMMENT_PATH = (b"moov", b"udta", b"meta", b"ilst", b"\xa9cmt", b"data")  # where the comment lives
MAX_BOXES = 100_000  # boxes walked in one file before it is refused (a file of tiny boxes is not ours)
ENCODE_TIMEOUT_S = 300


class VideoError(ValueError):
    """An MP4 cannot be written (no ffmpeg binary, encoder failure) or read; the message says which."""


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary in the imageio-ffmpeg wheel; VideoError (not a traceback) when it is missing."""
    try:
        import imageio_ffmpeg
        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError, OSError) as e:
        raise VideoError("MP4 export needs the ffmpeg binary that the imageio-ffmpeg package ships "
                         f"(pip install -r requirements.txt); it was not found: {e}") from None


def even_frames(frames: np.ndarray, scale: int = 1) -> np.ndarray:
    """(N, H·scale (+1), W·scale (+1), 3) uint8: frames enlarged `scale` times (nearest neighbour) and padded by
    repeating the last row / column to even sizes (H.264 in yuv420p needs them)."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or not len(frames):
        raise VideoError(f"frames must be (N, H, W, 3) uint8 with N ≥ 1, got {frames.dtype} {frames.shape}")
    big = frames.repeat(scale, axis=1).repeat(scale, axis=2) if scale > 1 else frames
    return np.pad(big, ((0, 0), (0, big.shape[1] % 2), (0, big.shape[2] % 2), (0, 0)), mode="edge")


def _ffmetadata(comment: str) -> str:
    """An ffmetadata file setting `comment` (=, ;, #, \\ and newlines escaped with a backslash)."""
    escaped = "".join("\\" + ch if ch in "=;#\\\n" else ch for ch in comment)
    return ";FFMETADATA1\ncomment=" + escaped + "\n"


def encode(frames: np.ndarray, fps: float, comment: str | None = None, scale: int = 1) -> bytes:
    """MP4 bytes (H.264, yuv420p) of (N, H, W, 3) uint8 frames, enlarged `scale`× and padded to even sizes, with
    `comment` in the file's metadata. The comment goes through a metadata file, not the command line, so its size
    is not bounded by the system's argument length."""
    video = even_frames(frames, scale)
    n, h, w, _ = video.shape
    exe = ffmpeg_exe()
    with tempfile.TemporaryDirectory(prefix="gan-mp4-") as tmp:
        out, meta = Path(tmp) / "out.mp4", Path(tmp) / "meta.txt"
        tags = ["-map_metadata", "-1"]
        if comment is not None:
            meta.write_text(_ffmetadata(comment), encoding="utf-8")
            tags = ["-f", "ffmetadata", "-i", str(meta), "-map_metadata", "1"]
        cmd = [exe, "-nostdin", "-hide_banner", "-loglevel", "error",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", f"{fps:g}", "-i", "pipe:0", *tags,
               "-map", "0:v", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "18", "-movflags", "+faststart",
               "-f", "mp4", str(out)]
        try:
            done = subprocess.run(cmd, input=np.ascontiguousarray(video).tobytes(), capture_output=True,
                                  timeout=ENCODE_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise VideoError(f"ffmpeg could not encode the MP4: {e}") from None
        if done.returncode != 0 or not out.is_file():
            tail = done.stderr.decode("utf-8", "replace").strip()[-500:]
            raise VideoError(f"ffmpeg could not encode the MP4 (exit {done.returncode}): {tail}")
        return out.read_bytes()


def is_mp4(data: bytes) -> bool:
    """Whether bytes start like an ISO media file (a first box of type ftyp)."""
    return len(data) >= 8 and data[4:8] == b"ftyp"


def _boxes(data: bytes, start: int, end: int, budget: list[int]):
    """(type, payload start, payload end) of each box in data[start:end]; VideoError when a size is inconsistent."""
    pos = start
    while pos < end:
        budget[0] -= 1
        if budget[0] < 0:
            raise VideoError(f"not a valid MP4 file: more than {MAX_BOXES} boxes")
        if end - pos < 8:
            raise VideoError("not a valid MP4 file: a truncated box header")
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        head = 8
        if size == 1:                                                    # 64-bit size follows the type
            if end - pos < 16:
                raise VideoError("not a valid MP4 file: a truncated box header")
            size, head = struct.unpack(">Q", data[pos + 8:pos + 16])[0], 16
        elif size == 0:                                                  # the box runs to the end of its parent
            size = end - pos
        if size < head or pos + size > end:
            raise VideoError(f"not a valid MP4 file: box {kind!r} declares {size} bytes")
        yield kind, pos + head, pos + size
        pos += size


def read_comment(data: bytes) -> str | None:
    """The comment tag of MP4 bytes (moov/udta/meta/ilst/©cmt/data), or None when there is none; VideoError when
    the box structure is broken. Only box headers on the way are read."""
    if not is_mp4(data):
        raise VideoError("not an MP4 file")
    budget = [MAX_BOXES]
    start, end = 0, len(data)
    for want in COMMENT_PATH:
        for kind, s, e in _boxes(data, start, end, budget):
            if kind == want:
                start, end = s, e
                break
        else:
            return None
        if want == b"meta" and data[start:start + 4] == b"\0\0\0\0":  # MP4's meta is a full box: version + flags
            start += 4
    if end - start < 8:                                                # data: type (4 bytes), locale (4), text
        raise VideoError("not a valid MP4 file: a truncated comment")
    try:
        return data[start + 8:end].decode("utf-8")
    except UnicodeDecodeError:
        raise VideoError("the MP4's comment is not UTF-8 text") from None
