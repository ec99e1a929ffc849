"""Initial noise for a shot: seeded per scene, reproducible, optionally FreeNoise-correlated.

Frame ``k`` of a scene (counted from the scene's first frame in the shot) always
gets the same noise for the same seed, whatever the scene's length or what comes
before it, so editing one scene does not change another's noise. Noise is drawn
on the CPU in float32, so a seed gives the same frames on every device.
"""

from __future__ import annotations

import torch

from storyboard.plan.data import ShotPlan


def scene_noise(seed: int, frames: int, shape: tuple[int, int, int]) -> torch.Tensor:
    """``[C, frames, h, w]`` independent Gaussian noise; frame ``k`` depends only on ``seed`` and ``k``."""
    generator = torch.Generator().manual_seed(seed)
    out = torch.empty((shape[0], frames, shape[1], shape[2]))
    for k in range(frames):
        out[:, k] = torch.randn(shape, generator=generator)
    return out


def freenoise(seed: int, frames: int, shape: tuple[int, int, int], window: int, stride: int) -> torch.Tensor:
    """FreeNoise-style noise: the first ``window`` frames are independent; each later run of
    ``stride`` frames repeats the noise of the frames ``window`` earlier, shuffled
    (Qiu et al., 2023). Long-range correlation keeps distant windows consistent."""
    base = scene_noise(seed, min(frames, window), shape)
    if frames <= window:
        return base
    out = torch.empty((shape[0], frames, shape[1], shape[2]))
    out[:, :window] = base
    generator = torch.Generator().manual_seed(seed ^ 0x5EED)
    start = window
    while start < frames:
        n = min(stride, frames - start)
        source = out[:, start - window: start - window + n]
        out[:, start: start + n] = source[:, torch.randperm(n, generator=generator)]
        start += n
    return out


def shot_noise(shot: ShotPlan, shape: tuple[int, int, int], *, mode: str = "independent",
               window: int = 16, overlap: int = 4) -> torch.Tensor:
    """``[1, C, shot.length, h, w]``: each scene's run of frames in the shot gets its own seeded noise.

    Handle frames (past the shot's end) continue the last scene's sequence.
    """
    runs: list[tuple[int, int, int]] = []  # (seed, scene, count)
    for cond in shot.frames:
        if runs and runs[-1][1] == cond.scene:
            seed, scene, count = runs[-1]
            runs[-1] = (seed, scene, count + 1)
        else:
            runs.append((cond.seed, cond.scene, 1))
    pieces = []
    for seed, _, count in runs:
        if mode == "freenoise":
            pieces.append(freenoise(seed, count, shape, window, max(1, window - overlap)))
        else:
            pieces.append(scene_noise(seed, count, shape))
    return torch.cat(pieces, dim=1).unsqueeze(0)
