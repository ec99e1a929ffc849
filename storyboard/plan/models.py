"""What storyboard knows of a model without loading it: the model registry.

- the built-in models (``preview`` and the tiny random ones) and each family it drives: the
  diffusers pipelines it reads, its time (:class:`LatentTiming`), its tiny model, its size rule;
- where a ``model.id`` points: a built-in model, a folder, or a hub id, found or not in the
  Hugging Face cache (its file layout is read here: no torch, no network, no huggingface_hub import);
- the checks ``validate``, ``plan`` and ``render`` make with that before torch is imported, and that
  the families make again when they load a model: one :class:`SizeRule`, one wording.

Reads JSON files only. The families' own modules (``backends/diffusion/families``) import torch.
"""

from __future__ import annotations

import difflib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

PREVIEW = "preview"


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


@dataclass(frozen=True)
class SizeRule:
    """The output sizes a model can render, in pixels: width a multiple of ``width_step`` and
    height of ``height_step`` (VAE compression times the denoiser's patch or down-sampling), and
    at most ``max_width`` x ``max_height`` (a position encoding's reach; None: no limit)."""

    width_step: int
    height_step: int
    max_width: int | None = None
    max_height: int | None = None

    def problems(self, width: int, height: int) -> list[tuple[str, int, str]]:
        """``(field, value, what it must be)`` for each of ``width`` and ``height`` (pixels) the rule
        refuses, ``field`` being ``"width"`` or ``"height"``."""
        out = []
        for name, value, step, most in (("width", width, self.width_step, self.max_width),
                                        ("height", height, self.height_step, self.max_height)):
            if most is not None and value > most:
                out.append((name, value, f"{name} must be at most {most} pixels (nearest: {most // step * step})"))
            elif value % step:
                down, up = max(step, value // step * step), -(-value // step) * step
                nearest = " or ".join(str(n) for n in dict.fromkeys((down, up)) if most is None or n <= most)
                out.append((name, value, f"{self.steps_text()} (nearest: {nearest})"))
        return out

    def steps_text(self) -> str:
        if self.width_step == self.height_step:
            return f"width and height must be multiples of {self.width_step} pixels"
        return f"width must be a multiple of {self.width_step} pixels and height of {self.height_step}"


@dataclass(frozen=True)
class Family:
    """A diffusers architecture storyboard drives (its code: ``backends/diffusion/families/<name>.py``).

    ``base_rule``: what every model of the family needs (a model's own configs may ask more), used
    when the configs are not at hand.
    """

    name: str
    pipelines: tuple[str, ...]
    timing: LatentTiming
    tiny: str
    tiny_rule: SizeRule
    base_rule: SizeRule


FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("unet3d", ("TextToVideoSDPipeline",), LatentTiming(), "tiny-random",
           tiny_rule=SizeRule(16, 16), base_rule=SizeRule(8, 8)),
    Family("wan", ("WanPipeline",), LatentTiming(ratio=4, causal_first=True, native_fps=16, clip_frames=81),
           "tiny-wan", tiny_rule=SizeRule(16, 16, 16384, 16384), base_rule=SizeRule(16, 16)),
    Family("ltx", ("LTXPipeline",), LatentTiming(ratio=8, causal_first=True, native_fps=24, clip_frames=121),
           "tiny-ltx", tiny_rule=SizeRule(32, 32), base_rule=SizeRule(32, 32)),
)}
TI2V_TIMING = LatentTiming(ratio=4, causal_first=True, native_fps=24, clip_frames=121)  # Wan 2.2 TI2V-5B
FAMILY_TIMING: dict[str, LatentTiming] = {name: f.timing for name, f in FAMILIES.items()}
TINY_FAMILIES: dict[str, str] = {f.tiny: name for name, f in FAMILIES.items()}
PIPELINE_FAMILIES: dict[str, str] = {p: name for name, f in FAMILIES.items() for p in f.pipelines}
BUILT_IN: tuple[str, ...] = (PREVIEW, *TINY_FAMILIES)
DENOISERS = {"unet3d": "unet", "wan": "transformer", "ltx": "transformer"}  # the component whose config has the patch


def supported_pipelines() -> str:
    """``TextToVideoSDPipeline (unet3d), WanPipeline (wan), LTXPipeline (ltx)``."""
    return ", ".join(f"{p} ({f})" for p, f in PIPELINE_FAMILIES.items())


# --- size rules, from a model's configs ----------------------------------------------------


def rule_from_configs(family: str, vae: Mapping[str, Any], denoiser: Mapping[str, Any]) -> SizeRule:
    """The size rule a model's component configs (``vae/config.json`` and the UNet's or
    transformer's) give, as the family's loaded modules apply them.

    - unet3d: ``2 ** (len(vae.block_out_channels) - 1)`` pixels a latent cell, halved again at each
      of the UNet's down blocks but the last;
    - wan: the VAE's ``scale_factor_spatial`` (8; 16 for TI2V-5B) times the DiT's patch (2), and
      at most ``rope_max_seq_len`` patches a side (the rotary embedding's table);
    - ltx: the VAE's ``patch_size * 2 ** (its scaling stages)`` (32) times the DiT's patch, and a
      multiple of 32 (LTXPipeline's rule).
    """
    if family == "unet3d":
        spatial = 2 ** (len(vae.get("block_out_channels") or (0,) * 4) - 1)
        step = spatial * 2 ** (len(denoiser.get("down_block_types") or (0,) * 4) - 1)
        return SizeRule(step, step)
    if family == "wan":
        spatial = int(vae.get("scale_factor_spatial") or 8)
        _, ph, pw = tuple(denoiser.get("patch_size") or (1, 2, 2))
        rope = int(denoiser.get("rope_max_seq_len") or 1024)
        return SizeRule(spatial * pw, spatial * ph, rope * spatial * pw, rope * spatial * ph)
    if family == "ltx":
        spatial = vae.get("spatial_compression_ratio") or (
            int(vae.get("patch_size") or 4) * 2 ** sum(bool(s) for s in (vae.get("spatio_temporal_scaling")
                                                                         or (True, True, True, False))))
        step = math.lcm(32, int(spatial) * int(denoiser.get("patch_size") or 1))
        return SizeRule(step, step)
    raise ValueError(f"no size rule for family {family!r}")


def size_message(model_id: str, family: str, value: int, requirement: str) -> str:
    """The one wording of a size a model refuses (``value`` and ``requirement`` from
    :meth:`SizeRule.problems`); located at ``output.width`` or ``output.height``."""
    return f"{value} does not fit model '{model_id}' ({family}): {requirement}"


def size_errors_text(model_id: str, family: str, rule: SizeRule, width: int, height: int) -> str | None:
    """All of a size's problems in one line, each after its field (for an error with no script to
    point into, as when a family checks a loaded model), or None when the rule admits the size."""
    found = rule.problems(width, height)
    return "; ".join(f"output.{field}: {size_message(model_id, family, value, requirement)}"
                     for field, value, requirement in found) or None


# --- where a model id points ----------------------------------------------------------------


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache, as huggingface_hub finds it (read now): ``HF_HUB_CACHE``,
    ``HUGGINGFACE_HUB_CACHE``, ``HF_HOME/hub``, ``XDG_CACHE_HOME/huggingface/hub``, else
    ``~/.cache/huggingface/hub``."""
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(name):
            return Path(os.environ[name]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    base = Path(os.environ["XDG_CACHE_HOME"]).expanduser() if os.environ.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` is set (read now, not when huggingface_hub was imported)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


def looks_local(model_id: str) -> bool:
    """Whether ``model_id`` names a folder (as the loader reads it) rather than a hub id."""
    return (Path(model_id).expanduser().exists() or model_id.startswith((".", "/", "~"))
            or model_id.count("/") > 1)


def cached_snapshot(model_id: str, revision: str | None = None) -> Path | None:
    """The hub cache's folder of ``model_id`` at ``revision`` (a branch, tag or commit; the default
    branch when None) when it holds a ``model_index.json``; None otherwise. The cache's layout:
    ``models--{org}--{name}/refs/{revision}`` holds a commit, ``snapshots/{commit}/`` the files."""
    repo = hub_cache_dir() / f"models--{model_id.replace('/', '--')}"
    wanted = revision or "main"
    try:
        commit = (repo / "refs" / wanted).read_text().strip()
    except (OSError, ValueError):
        commit = wanted if revision else ""
    candidates = [repo / "snapshots" / commit] if commit else []
    if not revision:  # no ref: any snapshot (one downloaded by commit)
        try:
            candidates += sorted(p for p in (repo / "snapshots").iterdir() if p.is_dir())
        except OSError:
            pass
    return next((c for c in candidates if (c / "model_index.json").is_file()), None)


@dataclass(frozen=True)
class ModelSource:
    """Where a model id points, found without loading anything.

    ``kind``: ``preview``, ``tiny`` (a tiny random model), ``folder``, ``no-folder`` (a path
    that is not a folder), ``cached`` (a hub id in the Hugging Face cache) or ``hub`` (a hub id
    not in the cache). ``folder``: the files (the folder, or the cache's snapshot); ``family``:
    its family when it can be told (else a pipeline name no family drives, or None).
    """

    model_id: str
    kind: str
    folder: Path | None = None
    family: str | None = None


def locate_model(model_id: str, revision: str | None = None) -> ModelSource:
    """Where ``model_id`` points (see :class:`ModelSource`); reads at most one ``model_index.json``."""
    if model_id == PREVIEW:
        return ModelSource(model_id, "preview")
    if model_id in TINY_FAMILIES:
        return ModelSource(model_id, "tiny", family=TINY_FAMILIES[model_id])
    if looks_local(model_id):
        folder = Path(model_id).expanduser()
        if not folder.is_dir():
            return ModelSource(model_id, "no-folder")
        return ModelSource(model_id, "folder", folder, _index_family(folder))
    snapshot = cached_snapshot(model_id, revision)
    if snapshot is not None:
        return ModelSource(model_id, "cached", snapshot, _index_family(snapshot) or named_family(model_id))
    return ModelSource(model_id, "hub", family=named_family(model_id))


def _index_family(folder: Path) -> str | None:
    """The family a folder's ``model_index.json`` names (its pipeline's name when no family drives
    it); None without one."""
    try:
        name = json.loads((folder / "model_index.json").read_text()).get("_class_name")
    except (OSError, ValueError, AttributeError):
        return None
    return PIPELINE_FAMILIES.get(name, name) if isinstance(name, str) else None


def named_family(hub_id: str) -> str | None:
    """A guess from a hub id's name (Wan-AI/Wan2.1-..., Lightricks/LTX-Video), for a model whose
    own index is not at hand."""
    name = hub_id.lower()
    if name.startswith("wan-ai/") or "/wan2" in name:
        return "wan"
    if "ltx-video" in name or name.startswith("lightricks/ltx"):
        return "ltx"
    return None


def detect_family(model_id: str) -> str | None:
    """The family of a model id without loading anything (see :func:`locate_model`)."""
    return locate_model(model_id).family


def model_timing(model_id: str) -> tuple[str | None, LatentTiming | None]:
    """The family of ``model_id`` and its time (TI2V-5B's when a Wan model's index says
    ``expand_timesteps``); ``(None, None)`` when the family cannot be told without loading it."""
    source = locate_model(model_id)
    family = FAMILIES.get(source.family or "")
    timing = family.timing if family else None
    if family is not None and family.name == "wan" and source.folder is not None:
        try:
            if json.loads((source.folder / "model_index.json").read_text()).get("expand_timesteps"):
                timing = TI2V_TIMING
        except (OSError, ValueError, AttributeError):
            pass
    return source.family, timing


def size_rule(source: ModelSource) -> SizeRule | None:
    """The size rule of a located model: a tiny model's, its configs' (folder or cached), else its
    family's base rule; None for the preview, or when the family is unknown."""
    family = FAMILIES.get(source.family or "")
    if family is None:
        return None
    if source.kind == "tiny":
        return family.tiny_rule
    if source.folder is None:
        return family.base_rule

    def config(name: str) -> dict[str, Any] | None:
        try:
            data = json.loads((source.folder / name / "config.json").read_text())  # type: ignore[operator]
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    vae, denoiser = config("vae"), config(DENOISERS[family.name])
    if vae is None or denoiser is None:
        return family.base_rule
    try:
        return rule_from_configs(family.name, vae, denoiser)
    except (TypeError, ValueError):  # a config of the wrong shape: the loader will say
        return family.base_rule


# --- the checks ---------------------------------------------------------------------------------


def missing_message(model_id: str, detail: str, components: tuple[str, ...] | list[str] = ()) -> str:
    """Why a model is not available, and how to get it."""
    holding = f"holding {', '.join(components)}/" if components else "saved by a diffusers text-to-video pipeline"
    how = (f"download it on a connected machine with `hf download {model_id}` (it lands in the Hugging Face "
           f"cache, ~/.cache/huggingface, or HF_HOME), or point model.id at a local folder {holding}")
    state = "HF_HUB_OFFLINE is set, so only the local cache is searched; " if hub_offline() else ""
    return f"model '{model_id}' is not available: {detail}. {state}{how}. To check a script without weights use --model preview."


def did_you_mean(model_id: str) -> str | None:
    """The built-in model ``model_id`` is a near miss of (``tiny-randm`` -> ``tiny-random``), or None."""
    if "/" in model_id or "\\" in model_id:
        return None
    close = difflib.get_close_matches(model_id.strip().lower(), BUILT_IN, n=1, cutoff=0.6)
    return close[0] if close else None


@dataclass(frozen=True)
class ModelProblem:
    """A problem with the model a script names: ``field`` (``id``, ``width`` or ``height``: the
    ``model.id`` or ``output.*`` it is about) and the message."""

    field: str
    message: str


def model_problems(model_id: str, width: int, height: int, revision: str | None = None) -> list[ModelProblem]:
    """What keeps ``model_id`` from rendering ``width`` x ``height`` pixels, found without torch or
    network. Errors, for what a render on this machine would fail on:

    - a near miss of a built-in name that is no folder and no cached model (did you mean);
    - a path that is not a folder;
    - a hub id not in the Hugging Face cache while ``HF_HUB_OFFLINE`` is set (the render could only
      fail, after importing torch);
    - a model saved by a pipeline no family drives;
    - a size its rule refuses (a tiny model's, its configs', else its family's base rule).

    A hub id that is not cached while the hub may be asked is not an error: the render downloads it
    (:func:`model_warnings` says so).
    """
    source = locate_model(model_id, revision)
    if source.kind == "preview":
        return []
    if source.kind in ("no-folder", "hub"):
        near = did_you_mean(model_id)
        if near is not None:
            return [ModelProblem("id", f"'{model_id}' is not a model storyboard knows, nor a folder: did you mean "
                                       f"'{near}'? (built in: {', '.join(BUILT_IN)})")]
    if source.kind == "no-folder":
        return [ModelProblem("id", f"model folder '{model_id}' does not exist")]
    if source.kind == "hub" and hub_offline():
        return [ModelProblem("id", missing_message(model_id, f"it is not in the Hugging Face cache ({hub_cache_dir()})"))]
    if source.family is not None and source.family not in FAMILIES:
        return [ModelProblem("id", f"model '{model_id}' was saved by {source.family}, which storyboard does not "
                                   f"drive; it drives {supported_pipelines()}")]
    rule = size_rule(source)
    if rule is None:
        return []
    return [ModelProblem(field, size_message(model_id, source.family or "", value, requirement))
            for field, value, requirement in rule.problems(width, height)]


def model_warnings(model_id: str, revision: str | None = None) -> list[str]:
    """Warnings about ``model_id`` that do not stop a render: a hub id that is not in the Hugging
    Face cache while the hub may be asked (the render will download it)."""
    source = locate_model(model_id, revision)
    if source.kind != "hub" or hub_offline():
        return []
    return [f"model '{model_id}' is neither built in ({', '.join(BUILT_IN)}), nor a folder, nor in the Hugging Face "
            f"cache ({hub_cache_dir()}): render will download it from the hub"]
