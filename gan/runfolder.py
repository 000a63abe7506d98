"""The training run folder: config.json, status.json, events.jsonl, metrics.jsonl, sample grids, checkpoint, STOP.

Every JSON file is written atomically (temp file + os.replace) so a reader never sees half a file;
events and metrics are appended one JSON line at a time.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from gan.atomic import atomic_write
from gan.records import jsonable, now_iso, read_json, read_jsonl, write_json_atomic

STATES = ("running", "finished", "stopped", "failed")


class RunFolder:
    """Owns the files of one run folder; `enabled=False` (DDP ranks > 0) makes every write a no-op."""

    def __init__(self, root: str | Path, enabled: bool = True):
        self.root = Path(root)
        self.enabled = enabled
        self.status: dict[str, Any] = {}
        if enabled:
            self.root.mkdir(parents=True, exist_ok=True)

    # Paths.
    @property
    def config_path(self) -> Path: return self.root / "config.json"
    @property
    def status_path(self) -> Path: return self.root / "status.json"
    @property
    def events_path(self) -> Path: return self.root / "events.jsonl"
    @property
    def metrics_path(self) -> Path: return self.root / "metrics.jsonl"
    @property
    def checkpoint_path(self) -> Path: return self.root / "checkpoint.pt"
    @property
    def stop_path(self) -> Path: return self.root / "STOP"

    def sample_path(self, step: int) -> Path:
        return self.root / f"samples_{step:06d}.png"

    # Writers.
    def save_sample_grid(self, step: int, image) -> None:
        """Write samples_{step}.png atomically (temp file + rename), so readers never see half a PNG."""
        if not self.enabled:
            return
        with atomic_write(self.sample_path(step)) as f:
            image.save(f, format="PNG")

    def write_config(self, config: dict) -> None:
        if self.enabled:
            write_json_atomic(self.config_path, config)

    def set_status(self, state: str | None = None, **fields: Any) -> None:
        """Update status.json: state, pid, step, total_steps, started, updated, images_per_s, message."""
        if not self.enabled:
            return
        if not self.status:
            self.status = {"state": "running", "pid": os.getpid(), "step": 0, "total_steps": None,
                           "started": now_iso(), "updated": now_iso(), "images_per_s": None, "message": ""}
        if state is not None:
            if state not in STATES:
                raise ValueError(f"state must be one of {STATES}")
            self.status["state"] = state
        self.status.update(fields, updated=now_iso())
        write_json_atomic(self.status_path, self.status)

    def _append(self, path: Path, record: dict) -> None:
        if not self.enabled:
            return
        with open(path, "a") as f:
            f.write(json.dumps(jsonable(record), default=str) + "\n")

    def append_event(self, record: dict) -> None:
        """One line in events.jsonl (`step`, `time`, scalars under slash names, guard actions)."""
        self._append(self.events_path, {"time": round(time.time(), 3), **record})

    def append_metrics(self, record: dict) -> None:
        self._append(self.metrics_path, {"time": round(time.time(), 3), **record})

    def stop_requested(self) -> bool:
        return self.stop_path.exists()

    def clear_stop(self) -> None:
        if self.enabled:
            self.stop_path.unlink(missing_ok=True)

    # Readers (for the app and tests).
    def read_status(self) -> dict | None:
        return read_json(self.status_path)

    def read_events(self) -> list[dict]:
        return read_jsonl(self.events_path)

    def samples(self) -> list[Path]:
        return sorted(self.root.glob("samples_*.png"))
