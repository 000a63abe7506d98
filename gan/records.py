"""Plain JSON records: UTC timestamps, JSON-safe values, atomic JSON writes and tolerant readers."""
from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from gan.atomic import atomic_write


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def jsonable(x: Any) -> Any:
    """JSON-safe copy: NumPy scalars and arrays become plain values, non-finite floats None (JSON has no NaN)."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(float(x)) else None
    return x


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write JSON to `path` via a temp file in the same folder + fsync + os.replace."""
    with atomic_write(path) as f:
        f.write(json.dumps(jsonable(obj), indent=2, default=str).encode())


def read_json(path: str | Path, default: Any = None) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return default


def read_jsonl(path: str | Path) -> list[dict]:
    """All complete records of a JSON-lines file (a torn last line, or a line that is not an object, is skipped)."""
    out = []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict):
                    out.append(record)
    except OSError:
        pass
    return out
