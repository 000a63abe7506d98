"""FID as a background job: `python -m gan evaluate --fid …` launched detached (like a training run), read back from
its folder on every rerun or reload, its result kept on disk keyed by checkpoint, sizes and features.

Folder `workspace/fid_jobs/CHECKPOINT-gN-rM-FEATURES/`: `job.json` (pid, process start, command, sizes, start time),
`log.txt` (the evaluator's output: tqdm progress, then the report, then the result as one JSON line) and, once it
succeeded, `result.json`. `workspace/inception_rate.json` keeps the Inception speed measured by the last job, which
the next estimate uses.
"""
from __future__ import annotations

import contextlib
import json
import re
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from explorer import run_command
from explorer.processes import launch, launch_lock, log_tail, pid_alive
from gan import paths
from gan.records import read_json, write_json_atomic

FEATURES = "Inception-2048"  # gan.metrics.fid.FEATURES_NAME: the features every FID here is computed on
_TQDM = re.compile(r"(?P<stage>[A-Za-z][A-Za-z ]*):\s+\d+%\|[^|]*\|\s*(?P<done>\d+)/(?P<total>\d+)"
                   r"(?:\s*\[[^,\]]*,\s*(?P<rate>[\d.]+)(?P<unit>it/s|s/it))?")
_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")


def jobs_dir() -> Path:
    return paths.workspace_dir() / "fid_jobs"


def rate_path() -> Path:
    return paths.workspace_dir() / "inception_rate.json"


def job_key(checkpoint_id: str, n_gen: int, n_real: int, features: str = FEATURES) -> str:
    """Folder name of a job: what its result depends on (checkpoint weights, sample sizes, feature extractor)."""
    if not _ID.fullmatch(checkpoint_id or ""):
        raise ValueError(f"not a checkpoint id: {checkpoint_id!r}")
    return f"{checkpoint_id}-g{int(n_gen)}-r{int(n_real)}-{re.sub(r'[^A-Za-z0-9]+', '', features)}"


@dataclass
class FidJob:
    """One FID job as the Metrics page shows it."""

    key: str
    path: Path
    state: str  # running | finished | failed | stopped
    n_gen: int
    n_real: int
    started: float = 0.0  # epoch seconds
    stage: str = ""  # the evaluator's current step ("conditioning", "fid real", "fid generated")
    done: int = 0  # items done in that stage
    total: int = 0  # items in that stage
    rate: float | None = None  # images/s the evaluator reports for the current Inception stage
    result: dict = field(default_factory=dict)
    message: str = ""

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def elapsed_s(self) -> float:
        return max(0.0, time.time() - self.started) if self.started else 0.0

    def eta_s(self) -> float | None:
        """Seconds left: the Inception images still to go at the rate the evaluator reports now (None before the
        Inception stages start). The real images are skipped when their statistics were cached."""
        if not self.stage.startswith("fid") or not self.rate:
            return None
        left = self.total - self.done
        if self.stage == "fid real":
            left += self.n_gen
        return left / self.rate


def _progress(text: str) -> tuple[str, int, int, float | None]:
    """(stage, done, total, images/s) from the last tqdm line of the log ("", 0, 0, None before any)."""
    for line in reversed(text.splitlines()):
        m = _TQDM.search(line)
        if m:
            rate = float(m["rate"]) if m["rate"] else None
            if rate and m["unit"] == "s/it":
                rate = 1.0 / rate
            return m["stage"].strip(), int(m["done"]), int(m["total"]), rate
    return "", 0, 0, None


def _last_json(text: str) -> dict | None:
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                d = json.loads(line)
                if isinstance(d, dict):
                    return d
    return None


def _record_rate(result: dict) -> None:
    """Inception images per second of a finished job (its Inception stage's time, real images included unless
    cached), for the next estimate."""
    secs = (result.get("seconds") or {}).get("inception")
    n = int(result.get("fid_n") or 0) + (0 if result.get("fid_real_stats_cached") else int(result.get("fid_real_n") or 0))
    if secs and n:
        with contextlib.suppress(OSError):
            write_json_atomic(rate_path(), {"images_per_s": n / float(secs), "images": n, "seconds": float(secs),
                                            "measured": datetime.now().isoformat(timespec="seconds")})


def measured_rate() -> dict | None:
    """{images_per_s, measured, …} from the last finished job on this machine, or None."""
    d = read_json(rate_path())
    ok = isinstance(d, dict) and isinstance(d.get("images_per_s"), (int, float)) and d["images_per_s"] > 0
    return d if ok else None


def estimate_s(n_gen: int, n_real: int) -> float | None:
    """Seconds of Inception work for n_gen generated + n_real real images at the measured rate (an upper bound: cached
    real statistics skip the real images); None when nothing was measured here yet."""
    r = measured_rate()
    return (n_gen + n_real) / r["images_per_s"] if r else None


def read(checkpoint_id: str, n_gen: int, n_real: int) -> FidJob | None:
    """The job for these settings as it stands now (None if never started); a finished one's result is saved."""
    key = job_key(checkpoint_id, n_gen, n_real)
    folder = jobs_dir() / key
    job = read_json(folder / "job.json")
    if not isinstance(job, dict):
        return None
    info = FidJob(key, folder, "running", int(n_gen), int(n_real), started=float(job.get("started") or 0.0))
    result = read_json(folder / "result.json")
    if isinstance(result, dict):
        info.state, info.result = "finished", result
        return info
    text = log_tail(folder / "log.txt", lines=400, block=65536)
    info.stage, info.done, info.total, info.rate = _progress(text)
    pid, ticks = job.get("pid"), job.get("proc_start")
    if isinstance(pid, int) and pid_alive(pid, ticks if isinstance(ticks, int) else None):
        return info
    from explorer.processes import exit_code

    if isinstance(pid, int):
        exit_code(pid)  # reap it if this server started it
    result = _last_json(text)
    if result is not None and "fid" in result:
        write_json_atomic(folder / "result.json", result)
        _record_rate(result)
        info.state, info.result = "finished", result
    else:
        info.state = "stopped" if job.get("stop_requested") else "failed"
        info.message = "\n".join(text.splitlines()[-12:])
    return info


def start(ckpt: str | Path, checkpoint_id: str, n_gen: int, n_real: int, classifier: str = "",
          record: bool = False) -> FidJob:
    """Launch `python -m gan evaluate --fid …` for these settings unless one is running; a new start replaces an old
    result of the same settings."""
    folder = jobs_dir() / job_key(checkpoint_id, n_gen, n_real)
    with launch_lock(jobs_dir()):
        now = read(checkpoint_id, n_gen, n_real)
        if now is not None and now.running:
            return now
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("result.json", "log.txt"):
            (folder / name).unlink(missing_ok=True)
        cmd = run_command.evaluate_command(ckpt, n_gen, n_real, classifier, record)
        pid, ticks = launch(cmd, folder / "log.txt")
        write_json_atomic(folder / "job.json", {"pid": pid, "proc_start": ticks, "cmd": cmd, "started": time.time(),
                                                "n_gen": int(n_gen), "n_real": int(n_real), "checkpoint": str(ckpt),
                                                "checkpoint_id": checkpoint_id, "features": FEATURES})
    return read(checkpoint_id, n_gen, n_real)


def stop(checkpoint_id: str, n_gen: int, n_real: int) -> None:
    """SIGTERM the job's process (the evaluator writes nothing half-done: no result is kept)."""
    folder = jobs_dir() / job_key(checkpoint_id, n_gen, n_real)
    job = read_json(folder / "job.json")
    if isinstance(job, dict) and isinstance(job.get("pid"), int) and pid_alive(job["pid"], job.get("proc_start")):
        job["stop_requested"] = time.time()
        write_json_atomic(folder / "job.json", job)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            import os

            os.kill(job["pid"], signal.SIGTERM)
