"""Output frames -> native frames -> latent frames (backends/latents.py)."""

from __future__ import annotations

import pytest

from storyboard.plan.data import FrameCond, ShotPlan
from storyboard.backends.latents import shot_latents
from storyboard.backends.registry import FAMILIES


def shot(frames: int, scenes: int = 2) -> ShotPlan:
    """A glide from prompt 0 to 1 over ``frames``, the second half a second scene with a pulse on frame 0 of it."""
    half = frames // 2
    conds = tuple(FrameCond(0, 1, k / (frames - 1), 7 if k < half else 9, 1.0 if k == half else 0.0,
                            0 if k < half else 1) for k in range(frames))
    return ShotPlan(0, tuple(range(scenes)), 0, frames, frames, ((0, frames),), conds)


@pytest.mark.parametrize("family,fps", [("wan", 24), ("wan", 16), ("wan", 8), ("ltx", 24), ("ltx", 12), ("ltx", 30)])
def test_every_output_frame_shows_the_native_frame_nearest_its_time(family, fps):
    timing = FAMILIES[family].timing
    s = shot(96)
    mapped = shot_latents(s, fps, timing, 4)
    assert len(mapped.shown) == 96
    assert mapped.native == round(96 * timing.native_fps / fps)
    assert timing.decoded_frames(mapped.latent) >= mapped.native
    for j, n in enumerate(mapped.shown):  # within half a native frame of the output frame's middle
        assert abs((n + 0.5) / timing.native_fps - (j + 0.5) / fps) <= 0.5 / timing.native_fps + 1e-9
    assert list(mapped.shown) == sorted(mapped.shown)


@pytest.mark.parametrize("family,fps", [("wan", 24), ("wan", 8), ("ltx", 12), ("ltx", 6)])
def test_latent_frames_carry_the_glide_the_scenes_and_the_pulse(family, fps):
    mapped = shot_latents(shot(96), fps, FAMILIES[family].timing, 4)
    weights = [c.w for c in mapped.conds]
    assert weights == sorted(weights) and weights[0] < 0.05 and weights[-1] > 0.9  # the glide, in order
    assert mapped.conds[0].scene == 0 and mapped.conds[0].seed == 7  # the first latent frame is the shot's start
    assert mapped.conds[-1].scene == 1
    assert sum(c.pulse for c in mapped.conds) == 1.0  # the pulse lands on exactly one latent frame


def test_windows_are_the_native_clip_in_latent_frames():
    mapped = shot_latents(shot(24 * 60), 24, FAMILIES["wan"].timing, 4)  # a minute: 960 native frames
    assert mapped.latent == 241
    assert all(e - s == 21 for s, e in mapped.windows)
    assert mapped.windows[0][0] == 0 and mapped.windows[-1][1] == 241
    assert all(b[0] <= a[1] - 4 for a, b in zip(mapped.windows, mapped.windows[1:]))


def test_the_family_and_its_time_come_from_the_folder(tmp_path):
    from storyboard.backends.registry import TI2V_TIMING
    from storyboard.backends.sources import model_timing

    (tmp_path / "ti2v").mkdir()
    (tmp_path / "ti2v" / "model_index.json").write_text('{"_class_name": "WanPipeline", "expand_timesteps": true}')
    (tmp_path / "t2v").mkdir()
    (tmp_path / "t2v" / "model_index.json").write_text('{"_class_name": "WanPipeline"}')
    assert model_timing(str(tmp_path / "ti2v")) == ("wan", TI2V_TIMING)
    assert model_timing(str(tmp_path / "t2v")) == ("wan", FAMILIES["wan"].timing)
    assert model_timing("tiny-ltx") == ("ltx", FAMILIES["ltx"].timing)
    assert model_timing("Wan-AI/Wan2.1-T2V-14B-Diffusers")[0] == "wan"
    assert model_timing("someone/some-model") == (None, None)
