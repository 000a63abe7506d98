"""Processes the app launches: detached start with a log file, and /proc checks that a pid is still the process we started.

A launched process gets its own session (`start_new_session=True`), so a page reload, a second tab or a closed browser
never stops it. It is *alive* when /proc shows it, not as a zombie, with the start time recorded at launch (so a
reused pid does not count).
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path

from gan import paths

_CHILDREN: dict[int, subprocess.Popen] = {}  # launched by this server process: kept so their exit codes are not lost


def proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks since boot) from /proc, or None where /proc is unavailable."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = text.rsplit(")", 1)[-1].split()  # comm (field 2) may hold spaces; fields 3.. follow the last ')'
    return rest[0], int(rest[19])             # field 3 state, field 22 starttime


def cmdline(pid: int) -> list[str] | None:
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
    stat = proc_stat(pid)
    if stat is None:
        return True  # no /proc: trust the signal check
    if stat[0] in "ZX":
        return False
    if start_ticks is not None and stat[1] != start_ticks:
        return False
    if trainer:
        cmd = cmdline(pid) or []
        return "gan" in cmd and "train" in cmd
    return True


def exit_code(pid: int) -> int | None:
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
    """Torch threads for a launched process unless GAN_THREADS says otherwise: one core is left to the app, and small
    networks gain little past 4 (on a busy 2-core machine 1 thread ran ~10x faster than 2 competing ones)."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


@contextlib.contextmanager
def launch_lock(folder: Path):
    """Serialise check-then-launch across sessions (two tabs pressing Start at once) with a lock file in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".jobs.lock", "a") as f:
        try:
            import fcntl
            fcntl.flock(f, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - not POSIX
            pass
        yield


def launch(cmd: list[str], log_path: Path) -> tuple[int, int | None]:
    """Start `cmd` detached from this session, stdout + stderr appended to log_path; returns (pid, /proc start ticks)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", GAN_THREADS=os.environ.get("GAN_THREADS") or str(train_threads()))
    with open(log_path, "a") as log:
        log.write(f"\n=== {datetime.now().isoformat(timespec='seconds')} {' '.join(cmd)}\n")
        log.flush()
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             cwd=str(paths.REPO_ROOT), env=env, start_new_session=True)
    _CHILDREN[p.pid] = p
    stat = proc_stat(p.pid)
    return p.pid, (stat[1] if stat else None)


def log_tail(log_path: Path, lines: int = 20, block: int = 16384) -> str:
    """The last lines of a log file ('' when there is none); tqdm's carriage returns count as line ends."""
    try:
        with open(log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - block))
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.replace("\r", "\n").splitlines()[-lines:])


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
