"""The README's command-line examples, run with tiny sizes in a clean clone: none may modify a tracked file or
leave an untracked one outside the git-ignored folders (issue 13, class 4). `git status --porcelain` must stay
empty. Tests the committed code (a clone of HEAD), as a user following the README would get it."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parent.parent

# Fast variants: option → value (None = drop the option and its value; flags listed in DROP_FLAGS go alone).
FAST = {
    "train": {"--minutes": None, "--steps": "2", "--batch": "8", "--ngf": "8", "--ndf": "8", "--z-dim": "8",
              "--sample-every": "1", "--ckpt-every": "1", "--metrics-every": "0", "--size": "32"},
    "generate": {"--n": "4"},
    "evaluate": {"--n": "16", "--fid-n": None, "--flip-n": "2"},
    "classifier": {"--minutes": None, "--epochs": "1", "--max-images": "32", "--size": "32", "--input-size": "32"},
    "encoder": {"--minutes": None, "--steps": "2", "--batch": "4", "--width": "8"},
    "project": {"--steps": "2"},
    "edits": {"--n-direction": "40", "--n": "8"},
}
DROP_FLAGS = {"--fid", "--kid", "--cfid", "--progress"}
EXTRA = {"train": ["--no-progress"], "evaluate": ["--no-proxy", "--no-diversity"],
         "project": ["--encoder", "none", "--crop", "none"]}  # a noise photo has no face to detect


def readme_commands(root: Path = REPO) -> list[str]:
    """Every `python -m gan …` line inside the README's ```bash blocks (comments stripped)."""
    text = (root / "README.md").read_text()
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if re.match(r"^(GAN_THREADS=\d+ )?\.venv/bin/python -m gan ", line):
                out.append(line)
    return out


def fast_variant(line: str, photo: Path) -> list[str] | None:
    """argv for the tiny version of a README line; None when it needs data that is not on this machine."""
    argv = shlex.split(line)
    argv = argv[argv.index("-m"):] if "-m" in argv else argv
    args = argv[2:]
    cmd = args[0]
    if any(a.startswith(("--data=celeba:", "--data=folder:")) for a in args) or \
            any(a in ("celeba:/data/celeba", "folder:/data/faces") for a in args):
        return None
    fast = dict(FAST.get(cmd, {}))
    out, i = [], 0
    while i < len(args):
        a = args[i]
        if a in DROP_FLAGS:
            i += 1
            continue
        if a in fast:
            if fast.pop(a) is None:
                i += 2
                continue
            out += [a, FAST[cmd][a]]
            i += 2
            continue
        if a.startswith("synthetic:"):
            a = "synthetic:64"
        if a == "photo.jpg":
            a = str(photo)
        out.append(a)
        i += 1
    out += [x for k, v in fast.items() if v is not None for x in (k, v)]  # tiny sizes the line did not set
    return [sys.executable, "-m", "gan", *out, *EXTRA.get(cmd, [])]


@pytest.mark.slow
def test_readme_commands_modify_no_tracked_file(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    commands = readme_commands(clone)
    assert len(commands) >= 8, commands
    photo = tmp_path / "photo.jpg"  # outside the clone: the user's own photo
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (96, 96, 3), dtype=np.uint8)).save(photo)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAN_")}
    env.update(GAN_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    ran = []
    for line in commands:
        argv = fast_variant(line, photo)
        if argv is None:
            continue
        r = subprocess.run(argv, cwd=clone, env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, f"{line}\n→ {' '.join(argv[1:])}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
        status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True).stdout
        assert status == "", f"after `{line}` git status shows:\n{status}"
        ran.append(line)
    assert len(ran) >= 8
