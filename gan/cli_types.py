"""argparse types that validate an option at parse time, so a bad value is one message naming the option and
its valid range (argparse prefixes `argument --flag:`), never a traceback or a silently accepted value."""
from __future__ import annotations

import argparse
import math
from pathlib import Path


def int_range(lo: int, hi: int | None = None):
    """An integer in [lo, hi] (no upper bound when hi is None)."""
    rng = f"[{lo}, {hi}]" if hi is not None else f"≥ {lo}"

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer {rng}, got {text[:40]!r}") from None
        if v < lo or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"must be an integer {rng}, got {v}")
        return v
    parse.__name__ = f"integer {rng}"
    return parse


def float_range(lo: float, hi: float, lo_open: bool = False, hi_open: bool = False):
    """A finite number in the interval lo..hi (open at either end on request)."""
    rng = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number in {rng}, got {text[:40]!r}") from None
        if not math.isfinite(v) or v < lo or v > hi or (lo_open and v == lo) or (hi_open and v == hi):
            raise argparse.ArgumentTypeError(f"must be a finite number in {rng}, got {text[:40]}")
        return v
    parse.__name__ = f"number in {rng}"
    return parse


def choice_int(*values: int):
    """One of a few integers (e.g. image sizes)."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            v = None
        if v not in values:
            raise argparse.ArgumentTypeError(f"must be one of {', '.join(map(str, values))}, got {text[:40]!r}")
        return v
    return parse


def _file_ancestor(path: Path) -> Path | None:
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            return parent
    return None


def output_file(text: str) -> str:
    """A file to write: not an existing folder, and no part of its path is an existing file."""
    path = Path(text).expanduser()
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a file, got an empty path")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text[:200]} is a folder; name the output file, e.g. {path / 'out.pt'}")
    bad = _file_ancestor(path)
    if bad is not None:
        raise argparse.ArgumentTypeError(f"{text[:200]} lies under {bad}, which is a file, not a folder")
    return text


def output_dir(text: str) -> str:
    """A folder to write into: not an existing file, and no part of its path is an existing file."""
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text[:200]} is a file; name a folder (it is created if missing)")
    bad = _file_ancestor(path)
    if bad is not None:
        raise argparse.ArgumentTypeError(f"{text[:200]} lies under {bad}, which is a file, not a folder")
    return text


def device(text: str) -> str:
    """auto | cpu | cuda | cuda:N | mps, refused when this machine lacks it."""
    import torch

    t = text.strip().lower()
    if t in ("auto", "cpu"):
        return t
    if t == "cuda" or (t.startswith("cuda:") and t[5:].isdigit()):
        if not torch.cuda.is_available():
            raise argparse.ArgumentTypeError(f"{text!r}: CUDA is not available on this machine; use cpu or auto")
        if ":" in t and int(t[5:]) >= torch.cuda.device_count():
            raise argparse.ArgumentTypeError(f"{text!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
        return t
    if t == "mps":
        if not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
            raise argparse.ArgumentTypeError("'mps': Apple's Metal backend is not available here; use cpu or auto")
        return t
    raise argparse.ArgumentTypeError(f"must be auto, cpu, cuda, cuda:N or mps, got {text[:40]!r}")


def apply_given(cfg, args, *names: str):
    """Set on the config dataclass `cfg` each named option the user gave (not None), and return it: the CLI
    overrides fields, it does not define a second set of defaults."""
    for name in names:
        value = getattr(args, name)
        if value is not None:
            setattr(cfg, name, value)
    return cfg


def add_device_option(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    """The --device option every CLI shares (default gan.device.DEFAULT_DEVICE)."""
    from gan.device import DEFAULT_DEVICE

    parser.add_argument("--device", type=device, default=default or DEFAULT_DEVICE,
                        help="auto | cpu | cuda | cuda:N | mps; auto = CUDA, else MPS, else CPU (default: %(default)s)")


def data_spec(text: str) -> str:
    """A --data spec (synthetic[:N] with N in range, celeba:PATH, folder:PATH, cache:DIR)."""
    from gan.data.prepare import parse_spec
    try:
        parse_spec(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def finite_pair(lo: float = -1e9, hi: float = 1e9):
    """argparse Action for `LO HI`: two finite numbers with LO < HI."""
    class Pair(argparse.Action):
        def __call__(self, parser, namespace, values, option_string=None):
            a, b = values
            if not (math.isfinite(a) and math.isfinite(b)) or not lo <= a < b <= hi:
                parser.error(f"argument {option_string}: needs two finite numbers LO < HI within [{lo:g}, {hi:g}], "
                             f"got {a:g} {b:g}")
            setattr(namespace, self.dest, (a, b))
    return Pair


positive_int = int_range(1)
nonneg_int = int_range(0)
SEED = int_range(0, 2 ** 63 - 1)
