"""Threat: bad command-line values (issue 13, class 5). Every option is validated at parse time: a bad value
exits with argparse's usage error naming the option and its valid range — never a traceback, a misleading error
deep in training, or a silently accepted value. Parsing only: nothing here trains or writes."""
from __future__ import annotations

from pathlib import Path

import pytest

from gan.__main__ import build_parser

REPO = Path(__file__).resolve().parent.parent

BAD = {
    # train
    "train --ckpt-every 0": "--ckpt-every", "train --batch 0": "--batch", "train --ngf 0": "--ngf",
    "train --ndf -1": "--ndf", "train --steps -5": "--steps", "train --minutes -1": "--minutes",
    "train --minutes nan": "--minutes", "train --z-dim 0": "--z-dim", "train --z-dim 1000000000": "--z-dim",
    "train --ema 5": "--ema", "train --ema nan": "--ema", "train --guard-d-band 6 0.05": "--guard-d-band",
    "train --guard-g-band 1 1": "--guard-g-band", "train --guard-g-band nan 1": "--guard-g-band",
    "train --data synthetic:1000000000000": "--data", "train --data synthetic:-3": "--data",
    "train --data nonsense": "--data", "train --size 48": "--size", "train --lr-g 0": "--lr-g",
    "train --lr-d inf": "--lr-d", "train --beta1 1": "--beta1", "train --d-steps 0": "--d-steps",
    "train --sample-every 0": "--sample-every", "train --log-every 0": "--log-every",
    "train --metrics-every -1": "--metrics-every", "train --workers 8": "--workers", "train --seed -1": "--seed",
    "train --device cuda:x": "--device", "train --w-dim 0": "--w-dim", "train --mapping-layers 0": "--mapping-layers",
    "train --d-mbstd -1": "--d-mbstd", "train --g-aux-weight -1": "--g-aux-weight", "train --ms-weight nan": "--ms-weight",
    "train --mixing-prob 1.5": "--mixing-prob", "train --mapping-lr-mult 0": "--mapping-lr-mult",
    "train --g-dropout 1": "--g-dropout", "train --c-embed-dim 0": "--c-embed-dim",
    "train --out README.md": "--out", "train --out README.md/run": "--out",
    # generate / project / export / evaluate / classifier / encoder / prepare
    "generate --n -1": "--n", "generate --n 0": "--n", "generate --truncation nan": "--truncation",
    "generate --nrow 0": "--nrow", "generate --out gan": "--out", "generate --out README.md/grid.png": "--out",
    "project photo.jpg --lr nan": "--lr", "project photo.jpg --steps -5": "--steps", "project photo.jpg --out README.md": "--out",
    "export checkpoints/default.pt gan": "dst", "export checkpoints/default.pt README.md/x.pt": "dst",
    "evaluate --n 0": "--n", "evaluate --batch 0": "--batch", "evaluate --truncation -1": "--truncation",
    "evaluate --fid-n 1": "--fid-n", "evaluate --device tpu": "--device",
    "classifier train --epochs 0": "--epochs", "classifier train --minutes 0": "--minutes",
    "classifier train --batch 0": "--batch", "classifier train --out gan": "--out", "classifier train --size 4": "--size",
    "encoder train --steps 0": "--steps", "encoder train --lr nan": "--lr", "encoder train --width 0": "--width",
    "encoder train --out gan": "--out", "prepare --data synthetic:0": "--data", "prepare --data synthetic --size 0": "--size",
}


@pytest.mark.parametrize("argv", list(BAD))
def test_bad_values_are_refused_at_parse_time_naming_the_option(argv, capsys, monkeypatch):
    monkeypatch.chdir(REPO)  # README.md and gan/ are the file and the folder the paths above name
    with pytest.raises(SystemExit) as e:
        build_parser(argv.split()[0]).parse_args(argv.split())
    assert e.value.code == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert f"argument {BAD[argv]}" in last, err
    assert "Traceback" not in err and len(last) < 300


def test_cuda_without_cuda_is_refused_at_parse_time(capsys, monkeypatch):
    import torch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for cmd in ("generate", "train", "evaluate"):
        with pytest.raises(SystemExit):
            build_parser(cmd).parse_args([cmd, "--device", "cuda"])
        assert "CUDA is not available" in capsys.readouterr().err


@pytest.mark.parametrize("argv", ["train --minutes 0", "train --minutes 0 --ckpt-every 5"])
def test_a_run_without_any_bound_is_refused(argv, capsys, tmp_path, monkeypatch):
    """--minutes 0 alone would train forever by accident: refused before anything is written (an explicit
    --steps 0 is the documented way to run until STOP)."""
    import gan.train_cli
    monkeypatch.setattr(gan.train_cli, "train", lambda cfg, **kw: pytest.fail(f"started an unbounded run {cfg.steps=} {cfg.minutes=}"))
    out = tmp_path / "run"
    args = build_parser("train").parse_args(argv.split() + ["--out", str(out)])
    assert args.func(args) == 2
    assert "--minutes 0 alone would train forever" in capsys.readouterr().err
    assert not out.exists()


def test_good_values_still_parse():
    args = build_parser("train").parse_args("train --steps 3 --minutes 0.5 --ema 0.99 --guard-d-band 0.1 5 --z-dim 8 "
                                            "--arch dcgan --d-mbstd 0 --out runs/x".split())
    assert (args.steps, args.minutes, args.ema, args.guard_d_band, args.model__z_dim) == (3, 0.5, 0.99, (0.1, 5.0), 8)
