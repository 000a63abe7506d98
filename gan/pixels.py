"""The one conversion between stored pixels (uint8, 0..255, (…, H, W, 3)) and the tensor contract
(float in [-1, +1], (…, 3, H, W)): v ↦ v / 127.5 − 1 one way, x ↦ round(127.5·x + 127.5) the other."""
from __future__ import annotations

import numpy as np
import torch


def to_unit(x):
    """uint8 pixel values → float in [-1, +1], same layout: a tensor becomes float32, an array float64."""
    if isinstance(x, torch.Tensor):
        return x.float() / 127.5 - 1
    return np.asarray(x, np.float64) / 127.5 - 1.0


def to_uint8(img: torch.Tensor) -> torch.Tensor:
    """float in [-1, +1] → uint8, same layout and device; rounds half up (+128, then truncates) and clamps."""
    return (img * 127.5 + 128).clamp(0, 255).to(torch.uint8)


def images_to_tensor(images) -> torch.Tensor:
    """(…, H, W, 3) uint8 images → (…, 3, H, W) float32 tensor in [-1, +1] on the CPU."""
    x = torch.from_numpy(np.array(images, dtype=np.uint8))
    return to_unit(x.permute(*range(x.ndim - 3), -1, -3, -2))


def tensor_to_images(img: torch.Tensor) -> np.ndarray:
    """(…, 3, H, W) float in [-1, +1] → (…, H, W, 3) uint8 numpy images on the CPU."""
    return to_uint8(img).permute(*range(img.ndim - 3), -2, -1, -3).cpu().numpy()
