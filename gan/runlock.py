"""One writer per run folder: a lock file holding its owner's pid and process start time.

`gan train --out DIR` (and --resume) holds DIR/run.lock while it runs; `gan evaluate` takes the same lock
before rewriting a checkpoint, so it never races a run that is saving. The lock is an flock on the file (the
kernel drops it when the owner dies, even by SIGKILL); the pid and start time inside say who holds it, and a
file left by a dead owner (pid gone, or reused by a process that started at another time) is stale and taken over.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

LOCK_NAME = "run.lock"


class RunLocked(RuntimeError):
    """Another live process holds the run folder; the message says which and what to do."""


def proc_start(pid: int) -> int | None:
    """Start time of process `pid` in clock ticks since boot (/proc), or None where /proc is unavailable."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[-1].split()  # comm may hold spaces and ')'; fields 3.. follow the last ')'
    return int(fields[19]) if fields[0] not in "ZX" else None


def owner_alive(info: dict) -> bool:
    """Whether the process a lock file names still runs and is the same process (same start time)."""
    pid = info.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    start = proc_start(pid)
    if start is None:
        return not Path("/proc").is_dir()  # no /proc: trust the signal check; with /proc: a zombie, gone
    return info.get("proc_start") in (None, start)


def read_owner(folder: str | Path) -> dict | None:
    """The lock file's record {pid, proc_start, command, since} when a live process holds `folder`, else None."""
    path = Path(folder) / LOCK_NAME
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and owner_alive(info) else None


def describe_owner(folder: str | Path) -> str:
    """'pid N (command, since DATE)' from the lock file, for messages."""
    try:
        info = json.loads((Path(folder) / LOCK_NAME).read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    info = info if isinstance(info, dict) else {}
    return f"another process: pid {info.get('pid', '?')} ({info.get('command', '?')}, since {info.get('since', '?')})"


class RunLock:
    """`with RunLock(folder, "train"):` — exclusive use of a run folder; RunLocked at once when it is taken."""

    def __init__(self, folder: str | Path, command: str, hint: str = ""):
        self.folder, self.command = Path(folder), command
        self.hint = hint or (f"wait for it to finish, stop it (create {Path(folder) / 'STOP'}), or choose another --out")
        self.path = self.folder / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        import fcntl

        for _ in range(20):  # retry only when the file was replaced between open and flock
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise RunLocked(self._held_message()) from None
            except OSError:  # a filesystem without flock: fall back on the pid + start time inside
                if read_owner(self.folder):
                    os.close(fd)
                    raise RunLocked(self._held_message()) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False  # the previous owner removed it while we waited: lock the new file instead
            if not same:
                os.close(fd)
                continue
            me = os.getpid()
            record = {"pid": me, "proc_start": proc_start(me), "command": self.command,
                      "since": time.strftime("%Y-%m-%dT%H:%M:%S")}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(record).encode(), 0)
            self._fd = fd
            return self
        raise RunLocked(f"{self.folder}: could not take {LOCK_NAME} (it keeps being replaced)")

    def _held_message(self) -> str:
        return f"{self.folder} is in use by {describe_owner(self.folder)}. One process writes a run folder at a time; {self.hint}."

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # first unlink, then unlock: a waiter re-checks the inode
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
