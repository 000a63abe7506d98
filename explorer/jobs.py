"""Training-run process control: start `python -m gan train` detached, read run folders back, stop and resume.

A run is a separate process (`start_new_session=True`, output to `runs/NAME/log.txt`), so a page reload, a second
tab or a closed browser never stops it, and every session sees the same runs: everything is read back from the run
folder (docs/ARCHITECTURE.md, "Run folder"). Besides the trainer's files the app writes two of its own:
`log.txt` (the process's stdout + stderr) and `job.json` (pid, process start time, command, exit code once known).

A run is *active* when its process is alive and is the process that was launched (pid + start time from /proc, so
a reused pid does not count). A run whose status says running but whose process is gone is shown as failed.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from gan import paths
from gan.records import read_json, write_json_atomic
from gan.runfolder import STATES

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
LOG_NAME = "log.txt"
JOB_NAME = "job.json"

class JobError(RuntimeError):
    """A run cannot be started, stopped or resumed; the message says why."""


# ----------------------------------------------------------------------------- names and folders

def check_name(name: str) -> str:
    """The run name if it is safe as a single folder name under runs_dir(); JobError otherwise.

    Letters, digits, '_', '-', '.' (not first), at most 64 characters: no '/', '..', spaces or hidden names."""
    name = (name or "").strip()
    if not name:
        raise JobError("Give the run a name.")
    if not NAME_RE.fullmatch(name) or ".." in name:
        raise JobError(f"Run name {name!r} is not allowed: use letters, digits, '_', '-' and '.', start with a letter "
                       f"or digit, at most 64 characters (no '/', '..' or spaces).")
    return name


def slugify(text: str) -> str:
    """A safe run name made from any text ('' when nothing usable is left)."""
    s = re.sub(r"[^A-Za-z0-9_.-]+", "-", (text or "").strip()).strip("-._")
    s = re.sub(r"\.{2,}", ".", s)
    return s[:64].rstrip("-._")


def suggest_name(prefix: str = "run") -> str:
    """`run-YYYYMMDD-HHMMSS`, with a counter when that folder exists already."""
    base = f"{slugify(prefix) or 'run'}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    name, i = base, 2
    while (paths.runs_dir() / name).exists():
        name, i = f"{base}-{i}", i + 1
    return name


def run_path(name: str) -> Path:
    """runs_dir()/NAME for a checked name (never outside runs_dir(), even through a symlink)."""
    root = paths.runs_dir()
    out = root / check_name(name)
    if out.resolve().parent != root.resolve():
        raise JobError(f"Run folder {out} resolves outside {root}; refusing it.")
    return out


# ----------------------------------------------------------------------------- the command line

def train_command(settings: dict[str, Any], out: Path, resume: bool = False) -> list[str]:
    """[python, -m, gan, train, …] for TrainConfig field values (names as in gan.train_cli.OPTIONS, "model.x" for the
    network); flags come from the trainer's own option table, so there is one list of options."""
    from gan.train_cli import OPTIONS

    flags = {name: (flag, typ) for flag, name, typ, _ in OPTIONS}
    unknown = sorted(set(settings) - set(flags) - {"out", "resume", "progress"})
    if unknown:
        raise JobError(f"unknown training settings: {', '.join(unknown)}")
    cmd = [sys.executable, "-m", "gan", "train"]
    for name, value in settings.items():
        if name in ("out", "resume", "progress") or value is None:
            continue
        flag, typ = flags[name]
        if typ == "bool":
            cmd.append(flag if value else "--no-" + flag[2:])
        elif typ == "flag":
            if value:
                cmd.append(flag)
        elif typ == "pair":
            cmd += [flag, str(value[0]), str(value[1])]
        elif name == "attrs" and isinstance(value, (list, tuple)):
            cmd += [flag, ",".join(value)]
        else:
            cmd += [flag, str(value)]
    if resume:
        cmd.append("--resume")
    return cmd + ["--out", str(out), "--no-progress"]


def _train_defaults():
    from gan.train import TrainConfig

    return TrainConfig()


# ----------------------------------------------------------------------------- processes

_CHILDREN: dict[int, subprocess.Popen] = {}  # launched by this server process: kept so their exit codes are not lost


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks since boot) from /proc, or None where /proc is unavailable."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = text.rsplit(")", 1)[-1].split()  # comm (field 2) may hold spaces; fields 3.. follow the last ')'
    return rest[0], int(rest[19])             # field 3 state, field 22 starttime


def _cmdline(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return None


def pid_alive(pid: int | None, start_ticks: int | None = None, trainer: bool = False) -> bool:
    """True when process `pid` exists, is not a zombie and (when given) started at `start_ticks`; trainer=True also
    requires its command line to be `… -m gan train …` (for runs started outside the app)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    stat = _proc_stat(pid)
    if stat is None:
        return True  # no /proc: trust the signal check
    if stat[0] in "ZX":
        return False
    if start_ticks is not None and stat[1] != start_ticks:
        return False
    if trainer:
        cmd = _cmdline(pid) or []
        return "gan" in cmd and "train" in cmd
    return True


def _exit_code(pid: int) -> int | None:
    """Exit code of a child of this process that has ended (reaping it), else None. Negative: killed by signal.

    Called once /proc shows the process as a zombie; a killed multi-threaded process can show 'Z' a moment
    before it can be reaped (its other threads are still exiting), hence the short wait."""
    p = _CHILDREN.get(pid)
    if p is not None:
        try:
            rc = p.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return None
        _CHILDREN.pop(pid, None)
        return rc
    for _ in range(10):
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except (ChildProcessError, OSError):
            return None
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.1)
    return None


def describe_exit(code: int | None) -> str:
    if code is None:
        return "exit code unknown"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def train_threads() -> int:
    """Torch threads for a launched run unless GAN_THREADS says otherwise: one core is left to the app, and small
    networks gain little past 4 (on a busy 2-core machine 1 thread ran ~10x faster than 2 competing ones)."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


@contextlib.contextmanager
def _launch_lock():
    """Serialise check-then-launch across sessions (two tabs pressing Start at once)."""
    root = paths.runs_dir()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".jobs.lock", "a") as f:
        try:
            import fcntl
            fcntl.flock(f, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - not POSIX
            pass
        yield


def _launch(out: Path, cmd: list[str], budget: dict, elapsed_before: float = 0.0) -> int:
    """Start the trainer detached from this session; stdout/stderr appended to log.txt; job.json written
    (with the step / minute budget, known before the trainer writes config.json)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", GAN_THREADS=os.environ.get("GAN_THREADS") or str(train_threads()))
    with open(out / LOG_NAME, "a") as log:
        log.write(f"\n=== {datetime.now().isoformat(timespec='seconds')} {' '.join(cmd)}\n")
        log.flush()
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             cwd=str(paths.REPO_ROOT), env=env, start_new_session=True)
    _CHILDREN[p.pid] = p
    stat = _proc_stat(p.pid)
    write_json_atomic(out / JOB_NAME, {"pid": p.pid, "proc_start": stat[1] if stat else None, "cmd": cmd,
                                       "started": time.time(), "elapsed_before": elapsed_before, **budget,
                                       "exit_code": None, "stop_requested": None})
    return p.pid


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
    try:
        with open(Path(folder) / LOG_NAME, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.replace("\r", "\n").splitlines()[-lines:])


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
    """Read a run folder: state from status.json checked against the process (a dead 'running' run is failed)."""
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
    return RunInfo(name=out.name, path=out, state=state, step=int(status.get("step") or 0),
                   total_steps=int(budget.get("steps") or 0) or None,
                   minutes=float(budget.get("minutes") or 0.0), elapsed_s=elapsed, budget_elapsed_s=budget_clock,
                   images_per_s=status.get("images_per_s"), message=message, pid=pid, exit_code=exit_code,
                   stopping=bool(job.get("stop_requested")) and state == "running",
                   started=str(status.get("started") or ""), config=config,
                   last_event=_last_line(out / "events.jsonl"))


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
    with _launch_lock():
        _refuse_if_busy()
        if out.exists() and any(out.iterdir()):
            raise JobError(f"A run named **{out.name}** exists already; choose another name, or resume it.")
        out.mkdir(parents=True, exist_ok=True)
        defaults = _train_defaults()
        steps = settings.get("steps", 0 if settings.get("minutes") else defaults.steps)  # the CLI's rule
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
    """Continue a stopped / failed / finished run from its checkpoint (`--resume --out runs/NAME`).

    more_steps / more_minutes extend the budget (needed to go on after a finished run)."""
    info = run_info(name)
    if info.running:
        raise JobError(f"Run **{info.name}** is still running.")
    if not info.has_checkpoint:
        raise JobError(f"Run **{info.name}** has no checkpoint to resume from; start a new run instead.")
    settings: dict[str, Any] = {}
    steps, minutes = int(info.config.get("steps") or 0), float(info.config.get("minutes") or 0.0)
    if more_steps:
        settings["steps"] = max(steps, info.step) + int(more_steps)
    if more_minutes:
        settings["minutes"] = round(max(minutes, info.elapsed_s / 60) + float(more_minutes), 3)
    cmd = train_command(settings, info.path, resume=True)
    with _launch_lock():
        _refuse_if_busy()
        (info.path / "STOP").unlink(missing_ok=True)
        budget = {"steps": int(settings.get("steps", steps)), "minutes": float(settings.get("minutes", minutes))}
        _launch(info.path, cmd, budget, elapsed_before=info.elapsed_s)
    return run_info(info.path)


def terminate_all(timeout_s: float = 10.0) -> None:
    """Stop every process this server launched (test teardown): SIGTERM, then SIGKILL after timeout_s."""
    for pid, p in list(_CHILDREN.items()):
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                p.terminate()
    deadline = time.time() + timeout_s
    for pid, p in list(_CHILDREN.items()):
        try:
            p.wait(max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        _CHILDREN.pop(pid, None)
