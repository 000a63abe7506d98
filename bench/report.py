"""Write one benchmark's results into its own marked section of BENCHMARKS.md (other sections kept)."""
from __future__ import annotations

import os
import platform
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import torch

BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
HEADER = "# Benchmarks\n\nEach section is written by the script named in it; rerun the script to refresh it.\n"


def machine_line() -> str:
    """One line describing where a benchmark ran."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{cpu}, {os.cpu_count()} cores, {gpu}, torch {torch.__version__}, "
            f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}")


def write_section(name: str, markdown: str) -> None:
    """Replace (or append) the section `name` of BENCHMARKS.md with `markdown`."""
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else HEADER
    block = f"<!-- bench:{name} -->\n{markdown.strip()}\n<!-- /bench:{name} -->"
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    fd, tmp = tempfile.mkstemp(dir=BENCHMARKS_MD.parent, prefix=".BENCHMARKS.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, BENCHMARKS_MD)
