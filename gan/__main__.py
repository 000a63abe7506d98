"""Command line: `python -m gan <command> …` — each command lives in the module that owns it."""
from __future__ import annotations

import argparse
import importlib
import sys

# command → module exposing `add_cli(subparsers)`; the parser it adds sets `func(args) -> int`.
COMMANDS = {
    "prepare": "gan.data.prepare",
    "train": "gan.train_cli",
    "generate": "gan.generate",
    "classifier": "gan.metrics.classifier",
    "evaluate": "gan.metrics.evaluate",
    "encoder": "gan.encoder",
    "project": "gan.project",
    "export": "gan.checkpoint",
    "edits": "gan.edits",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gan", description="Face-GAN latent-space explorer: data, training, metrics.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        if only and name != only:
            continue
        try:
            importlib.import_module(module).add_cli(sub)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    only = argv[0] if argv and argv[0] in COMMANDS else None
    args = build_parser(only).parse_args(argv)
    if not getattr(args, "func", None):
        build_parser().print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
