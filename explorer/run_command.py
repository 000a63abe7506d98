"""Run names and command lines: safe folder names under runs/, and the `python -m gan train|evaluate` commands the app launches."""
from __future__ import annotations

import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from gan import paths

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class JobError(RuntimeError):
    """A run cannot be started, stopped or resumed; the message says why."""


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


def evaluate_command(ckpt: str | Path, n_gen: int, n_real: int, classifier: str = "", record: bool = False) -> list[str]:
    """[python, -m, gan, evaluate, …] measuring FID, KID and conditional FID (n_gen generated / n_real real images)
    and the classifier proxy (the diversity ratio has its own panel: skipped); the result is the JSON object on the
    output's last line."""
    cmd = [sys.executable, "-m", "gan", "evaluate", "--ckpt", str(ckpt), "--n", str(int(n_gen)), "--fid", "--kid",
           "--cfid", "--fid-n", str(int(n_gen)), "--fid-real-n", str(int(n_real)), "--no-diversity", "--json",
           "--record" if record else "--no-record"]
    return cmd + (["--classifier", str(classifier)] if classifier else [])
