"""Training runs: read a run folder back as one state (reconciling status.json with the process), start, stop, resume.

Everything is read back from the run folder (docs/ARCHITECTURE.md, "Run folder"), so every session sees the same
runs. Besides the trainer's files the app writes two of its own: `log.txt` (the process's stdout + stderr) and
`job.json` (pid, process start time, command, budget, exit code once known). Names and command lines live in
explorer/run_command.py, process checks and the detached launch in explorer/processes.py.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from explorer.processes import describe_exit, exit_code as _exit_code, launch, launch_lock, pid_alive, terminate_all
from explorer.processes import log_tail as _log_tail
from explorer.run_command import JobError, NAME_RE, check_name, run_path, slugify, suggest_name, train_command
from gan import paths
from gan.records import read_json, write_json_atomic
from gan.runfolder import STATES

__all__ = ["JobError", "RunInfo", "active_runs", "check_name", "describe_exit", "list_runs", "log_tail", "max_active",
           "pid_alive", "resume", "run_info", "run_path", "slugify", "start", "stop", "suggest_name", "terminate_all",
           "train_command", "wait"]

LOG_NAME = "log.txt"
JOB_NAME = "job.json"


def _train_defaults():
    from gan.train import TrainConfig

    return TrainConfig()


def _launch(out: Path, cmd: list[str], budget: dict, elapsed_before: float = 0.0) -> int:
    """Start the trainer detached; job.json records the launch (with the step / minute budget, known before the
    trainer writes config.json)."""
    pid, ticks = launch(cmd, out / LOG_NAME)
    write_json_atomic(out / JOB_NAME, {"pid": pid, "proc_start": ticks, "cmd": cmd, "started": time.time(),
                                       "elapsed_before": elapsed_before, **budget, "exit_code": None,
                                       "stop_requested": None})
    return pid


# ----------------------------------------------------------------------------- reading runs back

@dataclass
class RunInfo:
    """One run folder as the app shows it."""

    name: str
    path: Path
    state: str                  # running | finished | stopped | failed
    step: int = 0
    total_steps: int | None = None
    minutes: float = 0.0        # time budget over the whole run (0 = none)
    elapsed_s: float = 0.0      # wall time of all launches so far (this one until now if running)
    budget_elapsed_s: float | None = None  # the trainer's own budget clock (status.json `elapsed`), if it writes one
    images_per_s: float | None = None
    message: str = ""
    pid: int | None = None
    exit_code: int | None = None
    stopping: bool = False      # a stop was requested and the process has not ended yet
    started: str = ""
    config: dict = field(default_factory=dict)
    last_event: dict = field(default_factory=dict)

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoint.pt"

    @property
    def has_checkpoint(self) -> bool:
        return self.checkpoint.is_file()

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def steps_per_s(self) -> float | None:
        per_step = int(self.config.get("batch") or 0) * int(self.config.get("d_steps") or 1)
        return self.images_per_s / per_step if self.images_per_s and per_step else None

    @property
    def budget_clock(self) -> float:
        """Seconds counted against a minutes budget: the trainer's clock when it reports one (it excludes start-up),
        else the wall time since launch."""
        return self.budget_elapsed_s if self.budget_elapsed_s is not None else self.elapsed_s

    @property
    def progress(self) -> float | None:
        """Fraction of the budget used (steps or minutes, whichever is further), None without a budget."""
        parts = []
        if self.total_steps:
            parts.append(self.step / self.total_steps)
        if self.minutes:
            parts.append(self.budget_clock / (60 * self.minutes))
        return min(1.0, max(parts)) if parts else None

    @property
    def eta_s(self) -> float | None:
        """Seconds left until the budget is reached (the earlier of steps and minutes), None when unknown."""
        left = []
        if self.total_steps and self.steps_per_s:
            left.append(max(0, self.total_steps - self.step) / self.steps_per_s)
        if self.minutes:
            left.append(max(0.0, 60 * self.minutes - self.budget_clock))
        return min(left) if left else None

    def log_tail(self, lines: int = 20) -> str:
        return log_tail(self.path, lines)


def _epoch(iso: str | None) -> float | None:
    try:
        return datetime.fromisoformat(str(iso)).timestamp()
    except (TypeError, ValueError):
        return None


def _last_line(path: Path, block: int = 8192) -> dict:
    """The last complete JSON line of a JSON-lines file ({} if none), reading only its end."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - block))
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return {}
    for line in reversed(lines):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):  # a damaged file can hold any JSON value on a line
            return record
    return {}


def log_tail(folder: Path, lines: int = 20) -> str:
    """The last lines of a run's log.txt ('' when there is none)."""
    return _log_tail(Path(folder) / LOG_NAME, lines)


def _read_dict(path: Path) -> dict:
    """A JSON object file as a dict with sane field types; {} when missing, damaged or not an object."""
    d = read_json(path)
    if not isinstance(d, dict):
        return {}
    for key in ("pid", "step", "steps", "total_steps", "proc_start", "exit_code"):  # ints (or absent)
        if key in d and not (isinstance(d[key], int) and not isinstance(d[key], bool)):
            d.pop(key)
    for key in ("elapsed_before", "minutes", "elapsed", "images_per_s"):  # plain numbers (or absent)
        if key in d and not (isinstance(d[key], (int, float)) and not isinstance(d[key], bool)):
            d.pop(key)
    if isinstance(d.get("started"), (list, dict, bool)):  # epoch seconds (job.json) or ISO text (status.json)
        d.pop("started")
    if "state" in d and d["state"] not in STATES:
        d.pop("state")
    return d


def run_info(name_or_path: str | Path) -> RunInfo:
    """Read a run folder: state from status.json checked against the process (a dead 'running' run is failed).

    Which launch status.json describes decides whose process is checked:

    | status.json written by             | process alive? | status.json state   | shown state | message                          |
    |------------------------------------|----------------|---------------------|-------------|----------------------------------|
    | the app's latest launch (same pid) | yes            | any (none: running) | as written  | as written                       |
    | the app's latest launch (same pid) | no             | running             | failed      | ended without finishing (exit)   |
    | the app's latest launch (same pid) | no             | finished/stopped/.. | as written  | as written                       |
    | an earlier launch / nobody yet     | yes            | —                   | running     | starting (loading the data)      |
    | an earlier launch / nobody yet     | no             | —                   | failed      | ended before training began      |
    | a later CLI run (no job.json, or   | yes (a `gan    | running             | running     | as written                       |
    |   status updated after the launch) |   train` pid)  |                     |             |                                  |
    | a later CLI run                    | no             | running             | failed      | killed, or the machine restarted |
    | a later CLI run                    | —              | finished/stopped/.. | as written  | as written                       |
    | nobody (no status.json, no job)    | —              | —                   | failed      | the run never started            |

    Once the process has ended, a leftover STOP file is removed (the trainer may exit before it reads it) and
    images/s is the last logged step's rate (the final status can average over a short tail).
    """
    out = Path(name_or_path) if isinstance(name_or_path, Path) else run_path(name_or_path)
    status = _read_dict(out / "status.json")
    job = _read_dict(out / JOB_NAME)
    config = _read_dict(out / "config.json")
    now = time.time()

    job_pid, st_pid = job.get("pid"), status.get("pid")
    state, message = status.get("state"), str(status.get("message") or "")
    exit_code = job.get("exit_code")
    # Which launch does status.json describe? The app's latest one (same pid), a later one from the command line
    # (written after the app's launch), or an earlier one (the app's launch has not written its status yet).
    job_started = float(job["started"]) if isinstance(job.get("started"), (int, float)) else 0.0
    st_updated = _epoch(status.get("updated")) or 0.0
    status_is_job = bool(job_pid) and st_pid == job_pid
    status_is_later = not job or (bool(status) and not status_is_job and st_updated > job_started)

    if not status_is_later:  # the app's latest launch decides
        alive = pid_alive(job_pid, job.get("proc_start"))
        if not alive and exit_code is None and job_pid:
            exit_code = _exit_code(job_pid)
            if exit_code is not None:
                job["exit_code"] = exit_code
                with contextlib.suppress(OSError):
                    write_json_atomic(out / JOB_NAME, job)
        if alive and not status_is_job:
            state, message = "running", "starting (loading the data)…"
        elif alive:
            state = state or "running"
        elif not status_is_job:
            state, message = "failed", f"the process ended before training began ({describe_exit(exit_code)})"
        elif state == "running":
            state, message = "failed", f"the process ended without finishing ({describe_exit(exit_code)})"
        pid = job_pid
    else:  # started outside the app (python -m gan train --out runs/NAME), after any launch from the app
        alive = state == "running" and pid_alive(st_pid, trainer=True)
        if state == "running" and not alive:
            state, message = "failed", "the process ended without finishing (killed, or the machine restarted)"
        exit_code, pid = None, st_pid
    if state is None:
        state, message = "failed", message or "no status.json: the run never started"

    # Elapsed: earlier launches (job.json) + this launch (status started → updated, or → now while running).
    started = job_started if status_is_job else _epoch(status.get("started")) if status_is_later else None
    before = 0.0 if status_is_later else float(job.get("elapsed_before") or 0.0)
    if state == "running":
        this = now - (started or job_started or now)
    else:
        this = max(0.0, st_updated - started) if started else 0.0
    elapsed = before + this
    budget_clock = status.get("elapsed") if (status_is_job or status_is_later) else None
    if isinstance(budget_clock, (int, float)):
        budget_clock = float(budget_clock) + (max(0.0, now - st_updated) if state == "running" else 0.0)
    else:
        budget_clock = None

    # Budget: the app's launch knows it first (config.json is written once the data is loaded).
    budget = config if status_is_later or "steps" not in job else job
    last_event = _last_line(out / "events.jsonl")
    speed = status.get("images_per_s")
    if state != "running":
        if not alive:  # the STOP file has done its job (or was never read): do not leave it for the next launch
            with contextlib.suppress(OSError):
                (out / "STOP").unlink(missing_ok=True)
        logged = last_event.get("images_per_s")
        if isinstance(logged, (int, float)) and not isinstance(logged, bool):
            speed = float(logged)
    return RunInfo(name=out.name, path=out, state=state, step=int(status.get("step") or 0),
                   total_steps=int(budget.get("steps") or 0) or None,
                   minutes=float(budget.get("minutes") or 0.0), elapsed_s=elapsed, budget_elapsed_s=budget_clock,
                   images_per_s=speed, message=message, pid=pid, exit_code=exit_code,
                   stopping=bool(job.get("stop_requested")) and state == "running",
                   started=str(status.get("started") or ""), config=config, last_event=last_event)


def list_runs() -> list[RunInfo]:
    """Every run folder under runs_dir() (with a status.json or job.json), most recently launched first."""
    root = paths.runs_dir()
    if not root.is_dir():
        return []
    found = []
    for d in root.iterdir():
        if d.is_dir() and not d.name.startswith(".") and NAME_RE.fullmatch(d.name) and \
                ((d / "status.json").exists() or (d / JOB_NAME).exists()):
            started = _read_dict(d / JOB_NAME).get("started")
            launched = max(started if isinstance(started, (int, float)) else 0,
                           _epoch(_read_dict(d / "status.json").get("started")) or 0)
            found.append((launched, d.name, d))
    return [run_info(d) for *_, d in sorted(found, key=lambda t: (t[0], t[1]), reverse=True)]


def active_runs() -> list[RunInfo]:
    return [r for r in list_runs() if r.running]


def max_active() -> int:
    """How many runs may train at once (GAN_TRAIN_MAX_JOBS, default 1: a CPU machine has no cores to spare)."""
    try:
        return max(1, int(os.environ.get("GAN_TRAIN_MAX_JOBS", "1")))
    except ValueError:
        return 1


def _refuse_if_busy() -> None:
    active = active_runs()
    if len(active) >= max_active():
        a = active[0]
        raise JobError(f"Run **{a.name}** is still training (step {a.step}); stop it or wait for it to finish "
                       f"before starting another (one run at a time on this machine).")


# ----------------------------------------------------------------------------- start / stop / resume

def start(name: str, settings: dict[str, Any]) -> RunInfo:
    """Launch a new run `runs/NAME` with TrainConfig field values `settings`; JobError when refused."""
    out = run_path(name)
    cmd = train_command(settings, out)
    with launch_lock(paths.runs_dir()):
        _refuse_if_busy()
        if out.exists() and any(out.iterdir()):
            raise JobError(f"A run named **{out.name}** exists already; choose another name, or resume it.")
        out.mkdir(parents=True, exist_ok=True)
        from gan.train_cli import implied_steps

        steps = implied_steps(settings.get("steps"), settings.get("minutes"), _train_defaults().steps)
        _launch(out, cmd, {"steps": int(steps or 0), "minutes": float(settings.get("minutes") or 0.0)})
    return run_info(out)


def stop(name: str, wait_s: float = 30.0) -> RunInfo:
    """Ask a running run to finish its step, save and exit: the STOP file plus SIGTERM (both handled by the trainer).

    The signal waits until the trainer has installed its handler (its status.json carries its pid), at most wait_s."""
    info = run_info(name)
    if not info.running:
        return info
    out = info.path
    (out / "STOP").touch()
    job = read_json(out / JOB_NAME) or {}
    if job:
        job["stop_requested"] = time.time()
        write_json_atomic(out / JOB_NAME, job)
    deadline = time.time() + wait_s
    while time.time() < deadline and info.running:  # during start-up the trainer clears STOP; the signal outlives that
        st = read_json(out / "status.json") or {}
        if st.get("pid") == info.pid and st.get("state") == "running":
            break
        time.sleep(0.2)
        info = run_info(out)
    ticks = job.get("proc_start") if job.get("pid") == info.pid else None  # None: a run started outside the app
    if info.running and info.pid and pid_alive(info.pid, ticks, trainer=ticks is None):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(info.pid, signal.SIGTERM)
    return run_info(out)


def wait(name: str, timeout_s: float = 60.0, poll_s: float = 0.25) -> RunInfo:
    """Block until the run is no longer running and its process has exited (or timeout); returns its final info."""
    deadline = time.time() + timeout_s
    info = run_info(name)
    while (info.running or pid_alive(info.pid)) and time.time() < deadline:
        time.sleep(poll_s)
        info = run_info(name)
    return info


def resume(name: str, more_steps: int = 0, more_minutes: float = 0.0) -> RunInfo:
    """Continue a stopped / failed / finished run from its checkpoint (`--resume --out runs/NAME`) for exactly
    `more_steps` steps or `more_minutes` minutes from where it is now; with neither, for the rest of its budget
    (JobError when that is used up: nothing would train, or — before this rule — an old budget trained anyway).

    The new budget is what the run has used (its step, or the trainer's budget clock) plus the extra, so what the
    page asks for is what trains — never the rest of an old budget on top."""
    info = run_info(name)
    if info.running:
        raise JobError(f"Run **{info.name}** is still running.")
    if not info.has_checkpoint:
        raise JobError(f"Run **{info.name}** has no checkpoint to resume from; start a new run instead.")
    settings: dict[str, Any] = {}
    if more_steps > 0 or more_minutes > 0:  # 0 = no limit of that kind: an old budget of the other kind must not cut in
        settings = {"steps": info.step + int(more_steps) if more_steps > 0 else 0,
                    "minutes": round(info.budget_clock / 60 + float(more_minutes), 4) if more_minutes > 0 else 0.0}
    elif info.progress is not None and info.progress >= 0.999:
        raise JobError(f"Run **{info.name}** has used its whole budget; give more steps or minutes to resume it.")
    steps, minutes = info.total_steps or 0, info.minutes
    cmd = train_command(settings, info.path, resume=True)
    with launch_lock(paths.runs_dir()):
        _refuse_if_busy()
        (info.path / "STOP").unlink(missing_ok=True)
        budget = {"steps": int(settings.get("steps", steps) or 0), "minutes": float(settings.get("minutes", minutes) or 0.0)}
        _launch(info.path, cmd, budget, elapsed_before=info.elapsed_s)
    return run_info(info.path)
