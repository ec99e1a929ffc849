"""Output frames -> the model's frames -> latent frames, for models that compress time.

Wan renders 16 frames a second and packs 4 frames into a latent frame after a first one
of its own (81 frames are 21 latent frames); LTX-Video packs 8; ModelScope's UNet3D has
one latent frame per frame at any rate. This module says, for a shot of the plan:

- how many frames the model renders at its native rate (the script's fps is honoured by
  showing, for each output frame, the native frame nearest its time);
- how many latent frames that takes, and which frames each latent frame holds;
- the conditioning of each latent frame (the prompt weight at the middle of its frames,
  the strongest beat pulse among them), so glides, holds and pulses carry over;
- the windows in latent frames: the model's native clip, sliding with the overlap given.

Cuts stay frame-exact because every shot yields exactly its output frames. What moves
is sub-frame: a pulse lands on the nearest native frame (within half a native frame,
31 ms at 16 fps), and a latent frame's prompt weight is the one at its middle.
"""

from __future__ import annotations

from dataclasses import dataclass

from storyboard.backends.registry import LatentTiming
from storyboard.backends.sources import model_timing
from storyboard.plan.data import FrameCond, ShotPlan
from storyboard.plan.windows import windows_for


@dataclass(frozen=True)
class LatentShot:
    """A shot in the model's time: ``native`` frames rendered, ``latent`` latent frames, the
    native frame each output frame shows, each latent frame's conditioning, and the windows
    (latent frames, ``[start, end)``)."""

    native: int
    latent: int
    shown: tuple[int, ...]  # per output frame of the shot (handle included): the native frame it shows
    conds: tuple[FrameCond, ...]  # per latent frame
    windows: tuple[tuple[int, int], ...]


def shot_latents(shot: ShotPlan, fps: int, timing: LatentTiming, overlap: int) -> LatentShot:
    """Map ``shot`` (output frames at ``fps``) to the model's native frames and latent frames.

    ``overlap``: latent frames shared by neighbouring windows (below the clip's length).
    """
    frames = shot.length
    rate = timing.native_fps or fps
    native = max(1, round(frames * rate / fps))
    shown = tuple(min(native - 1, int((j + 0.5) * rate / fps)) for j in range(frames))
    latent = timing.latent_frames(native)
    by_native: dict[int, list[int]] = {}
    for j, n in enumerate(shown):
        by_native.setdefault(n, []).append(j)
    conds = []
    for k in range(latent):
        held = timing.frames_of(k)
        group = [j for n in held for j in by_native.get(min(n, native - 1), [])]
        if not group:  # shown by no output frame (the model's rate is above the video's): the nearest in time
            middle_native = min(held[len(held) // 2], native - 1)
            group = [min(frames - 1, int(middle_native * fps / rate))]
        middle = shot.frames[group[len(group) // 2]]
        pulse = max(shot.frames[j].pulse for j in group)
        conds.append(FrameCond(middle.a, middle.b, middle.w, middle.seed, pulse, middle.scene))
    size = min(latent, timing.clip_latents)
    windows = windows_for(0, latent, size, 0 if timing.chunked else min(overlap, size - 1))  # chunks never overlap
    return LatentShot(native, latent, shown, tuple(conds), windows)


def latent_evaluations(plan_shot: ShotPlan, fps: int, overlap: int, model_id: str) -> int:
    """Latent frames the denoiser processes for one shot at one step (without guidance's doubling)."""
    _, timing = model_timing(model_id)
    if timing is None or timing.keeps_plan_windows:
        return sum(e - s for s, e in plan_shot.windows)
    return sum(e - s for s, e in shot_latents(plan_shot, fps, timing, overlap).windows)
