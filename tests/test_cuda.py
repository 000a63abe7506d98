"""The CUDA path: what can be checked on a CPU (autocast off, compile off, FLOP counting, bf16 code path, refusals),
and CUDA-only tests, skipped with the missing device named, that bench/gpu_check.sh runs on a GPU machine."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from gan.batches import Batches
from gan.checkpoint import load_checkpoint, load_generator
from gan.device import app_device, autocast_dtype
from gan.generate import generate_images, sample_z
from gan.metrics import fid
from gan.models import ModelConfig
from gan.distributed import GeneratorStep, wrap_for_training
from gan.train import TrainConfig, train
from tests.test_train import tiny_cache, tiny_cfg  # noqa: F401 — the fixture and config of the training tests

REPO = Path(__file__).resolve().parent.parent
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; none visible")


# ----------------------------------------------------------------------------- on any machine

def test_precision_auto_is_fp32_on_cpu_and_compile_is_off_by_default():
    cpu = torch.device("cpu")
    assert TrainConfig().precision == "auto" and TrainConfig().compile is False
    assert autocast_dtype(cpu, "auto") is None and autocast_dtype(cpu, "fp32") is None
    assert autocast_dtype(cpu, "bf16") == torch.bfloat16  # the explicit CPU path the next test trains through
    with pytest.raises(ValueError, match="precision"):
        autocast_dtype(cpu, "fp16")
    # Stored configs from before these fields resume in fp32.
    assert TrainConfig.from_dict({"data": "synthetic"}).precision == "fp32"


def test_wrap_for_training_single_process_is_plain_and_not_compiled(monkeypatch):
    from gan.models import build_networks
    G, D = build_networks(ModelConfig(ngf=8, ndf=8, c_dim=3, img_resolution=32))
    monkeypatch.setattr(torch, "compile", lambda m: pytest.fail("compiled although cfg.compile is False"))
    G_step, D_step = wrap_for_training(G, D, TrainConfig(), torch.device("cpu"), world=1)
    assert isinstance(G_step, GeneratorStep) and G_step.G is G and D_step is D
    calls = []
    monkeypatch.setattr(torch, "compile", lambda m: calls.append(m) or m)
    wrap_for_training(G, D, TrainConfig(compile=True), torch.device("cpu"), world=1)
    assert [type(m) for m in calls] == [GeneratorStep, type(D)]


def test_bf16_autocast_step_trains_on_cpu(tiny_cache, tmp_path):  # noqa: F811
    """precision=bf16 forces autocast on the CPU: the forwards run in bf16, losses and weights stay fp32."""
    out = tmp_path / "run"
    result = train(tiny_cfg(tiny_cache, out, steps=2, precision="bf16"))
    assert result["state"] == "finished"
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all()
               for net in ("G", "D") for v in ckpt[net].values() if v.is_floating_point())


def test_step_flops_counts_one_step_and_scales_with_the_batch():
    from bench.gpu_check import peak_flops, step_flops, synthetic_batch
    images, attrs = synthetic_batch(32, 32, 3)
    cfg = TrainConfig(size=32, model=ModelConfig(ngf=8, ndf=8))
    torch.manual_seed(0)
    f8 = step_flops(TrainConfig(**{**cfg.__dict__, "batch": 8}), torch.device("cpu"), images, attrs)
    f16 = step_flops(TrainConfig(**{**cfg.__dict__, "batch": 16}), torch.device("cpu"), images, attrs)
    assert f8 > 0 and f16 == 2 * f8
    assert peak_flops("NVIDIA H100 PCIe", bf16=True) == 756e12 and peak_flops("NVIDIA H200", bf16=False) == 494e12
    assert peak_flops("Some Future GPU", bf16=True) is None and peak_flops("x", True, override_tflops=100) == 1e14


def test_batches_pin_only_for_cuda_and_keep_the_cpu_path():
    images = np.random.default_rng(0).integers(0, 256, (16, 8, 8, 3), dtype=np.uint8)
    attrs = np.zeros((16, 2), np.uint8)
    b = Batches(images, attrs, np.arange(16), 4, 0, torch.device("cpu"))
    img, c = b.next()
    assert not b.pin and img.dtype == torch.float32 and img.shape == (4, 3, 8, 8) and c.dtype == torch.float32
    assert float(img.min()) >= -1 and float(img.max()) <= 1


def test_extract_features_follows_the_extractor_device():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 5))
    assert fid.device_of(net) == torch.device("cpu") and fid.device_of(lambda x: x) == torch.device("cpu")
    feats = fid.extract_features(net, np.zeros((3, 4, 4, 3), np.uint8), batch=2)
    assert feats.shape == (3, 5) and feats.dtype == np.float32


def test_app_device_honours_gan_app_device(monkeypatch):
    monkeypatch.setenv("GAN_APP_DEVICE", "cpu")
    assert app_device() == torch.device("cpu")
    monkeypatch.delenv("GAN_APP_DEVICE")
    assert app_device().type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_gpu_check_refuses_without_a_gpu():
    proc = subprocess.run(["bash", "bench/gpu_check.sh"], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PY": str(Path(os.sys.executable))})
    assert proc.returncode == 2 and "no CUDA GPU visible" in proc.stderr and "BENCHMARKS.md unchanged" in proc.stderr


# ----------------------------------------------------------------------------- CUDA only

@needs_cuda
def test_cuda_training_bf16_pinned_and_loadable_on_cpu(tiny_cache, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    result = train(tiny_cfg(tiny_cache, out, steps=3, device="cuda", workers=1))
    assert result["state"] == "finished"
    cfg = load_checkpoint(out / "checkpoint.pt")["train_config"]
    assert cfg["precision"] == "auto" and autocast_dtype(torch.device("cuda"), "auto") == (
        torch.bfloat16 if torch.cuda.is_bf16_supported() else None)
    gen = load_generator(out / "checkpoint.pt", device="cpu")  # a GPU run opens on a machine without one
    assert generate_images(gen.G, sample_z(4, gen.z_dim, 0), torch.ones(4, 3)).shape == (4, 32, 32, 3)


@needs_cuda
def test_cuda_resume_is_bit_exact_with_deterministic_kernels(tiny_cache, tmp_path):  # noqa: F811
    from bench.gpu_check import compare_checkpoints
    cfg = dict(steps=4, batch=16, ckpt_every=100, sample_every=100, device="cuda", deterministic=True)
    train(tiny_cfg(tiny_cache, tmp_path / "straight", **cfg))
    train(tiny_cfg(tiny_cache, tmp_path / "split", **{**cfg, "steps": 2}))
    train(tiny_cfg(tiny_cache, tmp_path / "split", **{**cfg, "resume": True}))
    assert compare_checkpoints(tmp_path / "straight" / "checkpoint.pt", tmp_path / "split" / "checkpoint.pt") == []


@needs_cuda
def test_cuda_batches_are_pinned_and_land_on_the_gpu():
    images = np.random.default_rng(0).integers(0, 256, (16, 8, 8, 3), dtype=np.uint8)
    b = Batches(images, np.zeros((16, 2), np.uint8), np.arange(16), 4, 0, torch.device("cuda"), workers=1)
    x, _ = b._load(np.arange(4))
    assert b.pin and x.is_pinned()
    img, c = b.next()
    assert img.is_cuda and c.is_cuda
    b.close()


@needs_cuda
def test_cuda_features_and_classifier_run_beside_the_data():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 5)).cuda()
    assert fid.device_of(net).type == "cuda"
    assert fid.extract_features(net, np.zeros((3, 4, 4, 3), np.uint8), batch=2).shape == (3, 5)


@needs_cuda
def test_cuda_app_generator_renders(monkeypatch):
    """The explorer's generator loads on CUDA when one is present, and its grids come back as host uint8 arrays."""
    from explorer import loaders
    from gan import paths
    monkeypatch.delenv("GAN_APP_DEVICE", raising=False)
    gen = loaders.generator(paths.DEFAULT_CHECKPOINT)
    assert next(gen.G.parameters()).is_cuda
    z, c = np.zeros((2, gen.z_dim), np.float32), np.zeros((2, len(gen.attribute_names)), np.float32)
    assert loaders.images(str(paths.DEFAULT_CHECKPOINT), loaders.mtime(paths.DEFAULT_CHECKPOINT), z, c).dtype == np.uint8


@needs_cuda
def test_cuda_edits_run_on_a_cuda_generator():
    """gan.edits (the Edits page) on the app's CUDA generator. Expected to fail until gan/edits.py moves its host
    z / c / latents to G's device in sample_faces, render and the 'condition' direction."""
    from gan import edits, paths
    gen = load_generator(paths.DEFAULT_CHECKPOINT, device="cuda")
    faces = edits.sample_faces(gen, 4, seed=0)
    assert edits.render(gen.G, faces, "z", faces.z).shape[0] == 4
