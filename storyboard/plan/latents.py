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

import math
from dataclasses import dataclass

from storyboard.plan.data import FrameCond, ShotPlan
from storyboard.plan.windows import windows_for


@dataclass(frozen=True)
class LatentTiming:
    """How a family's latents relate to frames.

    ``ratio``: output frames per latent frame (temporal compression: 1, 4 or 8);
    ``causal_first``: the first latent frame holds one frame, every other ``ratio``
    (Wan, LTX), so ``L`` latent frames decode to ``(L - 1) * ratio + 1`` frames;
    ``native_fps``: the rate the model was trained at (None: any rate, like UNet3D);
    ``clip_frames``: the model's native clip length in frames (Wan 81, LTX 121, ModelScope 16).
    """

    ratio: int = 1
    causal_first: bool = False
    native_fps: float | None = None
    clip_frames: int = 16

    def latent_frames(self, frames: int) -> int:
        """Latent frames that decode to at least ``frames`` frames."""
        if self.ratio == 1:
            return frames
        if self.causal_first:
            return 1 + math.ceil(max(0, frames - 1) / self.ratio)
        return math.ceil(frames / self.ratio)

    def decoded_frames(self, latent_frames: int) -> int:
        """Frames that ``latent_frames`` latent frames decode to."""
        if self.causal_first:
            return (latent_frames - 1) * self.ratio + 1
        return latent_frames * self.ratio

    def frames_of(self, latent: int) -> range:
        """The decoded frames that latent frame ``latent`` holds."""
        if not self.causal_first:
            return range(latent * self.ratio, (latent + 1) * self.ratio)
        if latent == 0:
            return range(0, 1)
        return range((latent - 1) * self.ratio + 1, latent * self.ratio + 1)

    @property
    def clip_latents(self) -> int:
        """The native clip length in latent frames (Wan's 81 frames are 21)."""
        return self.latent_frames(self.clip_frames)


FAMILY_TIMING: dict[str, LatentTiming] = {
    "unet3d": LatentTiming(),
    "wan": LatentTiming(ratio=4, causal_first=True, native_fps=16, clip_frames=81),
    "ltx": LatentTiming(ratio=8, causal_first=True, native_fps=24, clip_frames=121),
}
TI2V_TIMING = LatentTiming(ratio=4, causal_first=True, native_fps=24, clip_frames=121)  # Wan 2.2 TI2V-5B
TINY_FAMILIES = {"tiny-random": "unet3d", "tiny-wan": "wan", "tiny-ltx": "ltx"}
PIPELINE_FAMILIES = {"TextToVideoSDPipeline": "unet3d", "WanPipeline": "wan", "LTXPipeline": "ltx"}


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
    windows = windows_for(0, latent, size, min(overlap, size - 1))
    return LatentShot(native, latent, shown, tuple(conds), windows)


def detect_family(model_id: str) -> str | None:
    """The family of a model id without loading anything: a tiny model's id, a folder's
    ``model_index.json``, or the hub cache's copy of it. None when it cannot be told (a hub
    id not in the cache: the backend finds out when it loads)."""
    import json
    import os
    from pathlib import Path

    if model_id in TINY_FAMILIES:
        return TINY_FAMILIES[model_id]
    folder = Path(model_id).expanduser()
    indexes = [folder / "model_index.json"]
    if not folder.exists() and model_id.count("/") == 1:
        hub = Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME", Path.home() / ".cache" /
                                                                           "huggingface")) / "hub")
        indexes = sorted((hub / f"models--{model_id.replace('/', '--')}" / "snapshots").glob("*/model_index.json"))
    for index in indexes:
        try:
            name = json.loads(index.read_text()).get("_class_name")
        except (OSError, ValueError):
            continue
        return PIPELINE_FAMILIES.get(name, name)
    return _named_family(model_id) if not folder.exists() and model_id.count("/") == 1 else None


def _named_family(hub_id: str) -> str | None:
    """A last guess from a hub id's name (Wan-AI/Wan2.1-..., Lightricks/LTX-Video): only for what
    ``plan`` shows and messages, before the model's own index is at hand."""
    name = hub_id.lower()
    if name.startswith("wan-ai/") or "/wan2" in name:
        return "wan"
    if "ltx-video" in name or name.startswith("lightricks/ltx"):
        return "ltx"
    return None


def size_multiple(model_id: str) -> tuple[str, int] | None:
    """``(family, n)``: width and height must be multiples of ``n`` pixels for the model in folder
    ``model_id``, read from its component configs (the VAE's spatial compression times the
    denoiser's patch or down-sampling); None when the folder or its configs are not there."""
    import json
    from pathlib import Path

    folder = Path(model_id).expanduser()
    family = detect_family(model_id) if folder.is_dir() else None
    if family is None:
        return None
    if family not in FAMILY_TIMING:
        return family, 0

    def config(name: str) -> dict:
        try:
            return json.loads((folder / name / "config.json").read_text())
        except (OSError, ValueError):
            return {}

    vae = config("vae")
    if family == "unet3d":
        unet = config("unet")
        spatial = 2 ** (len(vae.get("block_out_channels", (0,) * 4)) - 1)
        return family, spatial * 2 ** (len(unet.get("down_block_types", (0,) * 4)) - 1)
    patch = config("transformer").get("patch_size", 2 if family == "wan" else 1)
    patch = patch[-1] if isinstance(patch, (list, tuple)) else patch
    spatial = vae.get("scale_factor_spatial") or vae.get("spatial_compression_ratio") or (8 if family == "wan" else 32)
    return family, int(spatial) * int(patch)


def model_timing(model_id: str) -> tuple[str | None, LatentTiming | None]:
    """The family of ``model_id`` and its time (TI2V-5B's when a Wan folder says ``expand_timesteps``);
    ``(None, None)`` when the family cannot be told without loading the model."""
    import json
    from pathlib import Path

    family = detect_family(model_id)
    timing = FAMILY_TIMING.get(family or "")
    if family == "wan":
        try:
            if json.loads((Path(model_id).expanduser() / "model_index.json").read_text()).get("expand_timesteps"):
                timing = TI2V_TIMING
        except (OSError, ValueError):
            pass
    return family, timing


def latent_evaluations(plan_shot: ShotPlan, fps: int, overlap: int, model_id: str) -> int:
    """Latent frames the denoiser processes for one shot at one step (without guidance's doubling)."""
    _, timing = model_timing(model_id)
    if timing is None or (timing.ratio == 1 and timing.native_fps is None):
        return sum(e - s for s, e in plan_shot.windows)
    return sum(e - s for s, e in shot_latents(plan_shot, fps, timing, overlap).windows)
