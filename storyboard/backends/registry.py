"""The model families storyboard drives, as data: what ``validate`` needs to know of each.

One :class:`Family` entry per diffusers architecture: the pipelines whose saved models it
drives (``model_index.json``'s ``_class_name``), its time (:class:`LatentTiming`), its tiny
random model's id, its size rules (:class:`SizeRule`, from a model's configs or the family's
base), the hub names that betray it, the schedulers it samples with and the conditioning it
accepts. The code that drives a family lives in ``backends/diffusion/families/<name>.py``
(torch); this module imports neither torch, diffusers nor numpy.

Adding a family: one module under ``families/`` and one entry in :data:`FAMILIES`
(``tests/backends/test_family_contract.py`` lists what both must provide).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

PREVIEW = "preview"


@dataclass(frozen=True)
class LatentTiming:
    """How a family's latents relate to frames.

    ``ratio``: output frames per latent frame (temporal compression: 1, 4 or 8);
    ``causal_first``: the first latent frame holds one frame, every other ``ratio``
    (Wan, LTX), so ``L`` latent frames decode to ``(L - 1) * ratio + 1`` frames;
    ``native_fps``: the rate the model was trained at, frames per second (None: any rate, like UNet3D);
    ``clip_frames``: the model's native clip length in frames (Wan 81, LTX 121, ModelScope 16; a Helios
    chunk, 33);
    ``chunked``: a shot is made of whole clips (chunks), each its own causal run of latent frames,
    encoded and decoded alone and made one after another (Helios: ``K`` chunks are ``9 K`` latent frames
    and ``33 K`` frames).
    """

    ratio: int = 1
    causal_first: bool = False
    native_fps: float | None = None
    clip_frames: int = 16
    chunked: bool = False

    @property
    def chunk(self) -> "LatentTiming":
        """The time inside one chunk (a chunked family's clip, on its own)."""
        return replace(self, chunked=False)

    def latent_frames(self, frames: int) -> int:
        """Latent frames that decode to at least ``frames`` frames."""
        if self.chunked:
            return max(1, math.ceil(frames / self.clip_frames)) * self.clip_latents
        if self.ratio == 1:
            return frames
        if self.causal_first:
            return 1 + math.ceil(max(0, frames - 1) / self.ratio)
        return math.ceil(frames / self.ratio)

    def decoded_frames(self, latent_frames: int) -> int:
        """Frames that ``latent_frames`` latent frames decode to."""
        if self.chunked:
            whole, rest = divmod(latent_frames, self.clip_latents)
            return whole * self.clip_frames + (self.chunk.decoded_frames(rest) if rest else 0)
        if self.causal_first:
            return (latent_frames - 1) * self.ratio + 1
        return latent_frames * self.ratio

    def frames_of(self, latent: int) -> range:
        """The decoded frames that latent frame ``latent`` holds."""
        if self.chunked:
            index, inside = divmod(latent, self.clip_latents)
            held = self.chunk.frames_of(inside)
            return range(held.start + index * self.clip_frames, held.stop + index * self.clip_frames)
        if not self.causal_first:
            return range(latent * self.ratio, (latent + 1) * self.ratio)
        if latent == 0:
            return range(0, 1)
        return range((latent - 1) * self.ratio + 1, latent * self.ratio + 1)

    @property
    def clip_latents(self) -> int:
        """The native clip length in latent frames (Wan's 81 frames are 21; a Helios chunk's 33, 9)."""
        return (self.chunk if self.chunked else self).latent_frames(self.clip_frames)

    @property
    def keeps_plan_windows(self) -> bool:
        """A latent frame per frame at any rate (UNet3D): the plan's own windows are the model's."""
        return self.ratio == 1 and self.native_fps is None


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
        """The multiples the rule asks for, in words."""
        if self.width_step == self.height_step:
            return f"width and height must be multiples of {self.width_step} pixels"
        return f"width must be a multiple of {self.width_step} pixels and height of {self.height_step}"


Configs = Mapping[str, Any]

CONDITIONING: dict[str, str] = {  # what a family may condition a shot on (Family.conditioning), and its name in messages
    "prompt": "prompts, per frame",
    "pulse": "beat pulses",
    "image": "start images (a shot begins on a picture)",
    "last_image": "an image on a shot's last frame (first-and-last-frame models)",
    "keyframes": "keyframes (images at any frame of a shot, its last included)",
    "references": "subjects' reference images (in every frame of the scenes citing them)",
    "control": "control videos (pose, depth or edge)",
    "continue": "continued cuts (a shot starting from the last frames of the one before)",
}
IMPLIED: dict[str, tuple[str, ...]] = {"keyframes": ("image", "last_image")}  # a word that includes others


@dataclass(frozen=True)
class Family:
    """A diffusers architecture storyboard drives (its code: ``backends/diffusion/families/<name>.py``).

    - ``pipelines``: the ``_class_name`` values of ``model_index.json`` it drives;
    - ``timing``: its time; ``index_timings``: a ``model_index.json`` key that, when true, gives
      another time (Wan 2.2 TI2V-5B's ``expand_timesteps``); ``config_timings``: the same for a key
      of the denoiser's ``config.json`` (CogVideoX 1.5's ``patch_size_t``);
    - ``tiny``: the id of its tiny random model (offline tests); ``tiny_rule`` its size rule;
    - ``denoiser``: the component whose config holds the patch (``unet`` or ``transformer``);
    - ``rule``: the size rule a model's ``vae`` and denoiser configs give (plain dicts);
      ``base_rule``: what every model of the family needs, when the configs are not at hand;
    - ``hub_names``: lower-case pieces of a hub id that name the family, for a model whose own
      index is not at hand (``startswith:`` pieces match the id's start);
    - ``schedulers``: the ``model.scheduler`` values it samples with (``auto``: its default);
    - ``conditioning``: what it conditions a shot on, in the words of :data:`CONDITIONING` (``prompt``
      and ``pulse``: every family; ``image``, ``last_image``, ``keyframes``, ``references``, ``control`` and
      ``continue``: those that take images); ``validate`` refuses a script asking a family for more
      (:func:`taking` names the families that can);
    - ``checkpoints``: hub ids of published models it drives (what a model picker offers);
    - ``anchor``: how strongly a long shot's windows are pulled toward its first (0 to 1) when the
      script sets no ``anchor`` (:meth:`anchor_strength`); 0: off;
    - ``history``: what a chunked family keeps of earlier chunks, in latent frames;
    - ``needs_image``: the family animates images (image-to-video): a shot without one is refused;
    - ``sampling``: how a shot is sampled: ``windows`` (every step, each window in turn, the
      predictions fused), ``forcing`` (chunk after chunk, each with per-frame noise levels and the
      last latent frames of the one before as history: :mod:`storyboard.backends.forcing`) or
      ``chunks`` (whole chunks, each reading a compressed history).
    """

    name: str
    pipelines: tuple[str, ...]
    timing: LatentTiming
    tiny: str
    tiny_rule: SizeRule
    base_rule: SizeRule
    denoiser: str
    rule: Callable[[Configs, Configs], SizeRule]
    schedulers: tuple[str, ...]
    hub_names: tuple[str, ...] = ()
    index_timings: tuple[tuple[str, LatentTiming], ...] = ()
    config_timings: tuple[tuple[str, LatentTiming], ...] = ()
    conditioning: tuple[str, ...] = field(default=("prompt", "pulse"))
    checkpoints: tuple[str, ...] = ()
    history: tuple[int, ...] = ()  # a chunked family's history, in latent frames (Helios: long, mid, short)
    sampling: str = "windows"  # windows (fused sliding windows), forcing (diffusion forcing), chunks (Helios)
    needs_image: bool = False  # an image-to-video model: every shot needs a start image, keyframe or last image
    anchor: float = 0.0  # colour anchoring's default strength, 0 to 1 (0: off), where the script sets none

    def named_by(self, hub_id: str) -> bool:
        """Whether a hub id's name says it is of this family (``Wan-AI/Wan2.1-...``)."""
        return self.naming(hub_id) > 0

    def naming(self, hub_id: str) -> int:
        """How specifically a hub id's name says it is of this family: the length of the longest of
        :attr:`hub_names` it holds (0: none), so ``/wan2.1-i2v-`` outweighs ``wan-ai/``."""
        name = hub_id.lower()
        found = [len(piece) - len("startswith:") if piece.startswith("startswith:") else len(piece)
                 for piece in self.hub_names
                 if (name.startswith(piece[len("startswith:"):]) if piece.startswith("startswith:") else piece in name)]
        return max(found, default=0)

    def timing_of(self, index: Mapping[str, Any], denoiser: Mapping[str, Any] | None = None) -> LatentTiming:
        """The time of a model whose ``model_index.json`` holds ``index`` and whose denoiser's
        ``config.json`` holds ``denoiser`` (when at hand)."""
        found = [timing for key, timing in self.index_timings if index.get(key)]
        found += [timing for key, timing in self.config_timings if (denoiser or {}).get(key)]
        return found[0] if found else self.timing

    def takes(self, word: str) -> bool:
        """Whether the family conditions on ``word`` (:data:`CONDITIONING`): listed, or implied by a word
        listed (frames at any index include the first and the last)."""
        return word in self.conditioning or any(word in IMPLIED.get(w, ()) for w in self.conditioning)

    def anchor_strength(self, asked: float | None) -> float:
        """The anchoring a shot gets: what its script asked (``ShotMedia.anchor``), else the family's default."""
        return self.anchor if asked is None else asked


# --- size rules from configs, one per family ------------------------------------------------


def unet3d_rule(vae: Configs, unet: Configs) -> SizeRule:
    """``2 ** (len(vae.block_out_channels) - 1)`` pixels a latent cell, halved again at each of the
    UNet's down blocks but the last."""
    spatial = 2 ** (len(vae.get("block_out_channels") or (0,) * 4) - 1)
    step = spatial * 2 ** (len(unet.get("down_block_types") or (0,) * 4) - 1)
    return SizeRule(step, step)


def wan_rule(vae: Configs, transformer: Configs) -> SizeRule:
    """The VAE's ``scale_factor_spatial`` (8; 16 for TI2V-5B) times the DiT's patch (2), and at most
    ``rope_max_seq_len`` patches a side (the rotary embedding's table)."""
    spatial = int(vae.get("scale_factor_spatial") or 8)
    _, ph, pw = tuple(transformer.get("patch_size") or (1, 2, 2))
    rope = int(transformer.get("rope_max_seq_len") or 1024)
    return SizeRule(spatial * pw, spatial * ph, rope * spatial * pw, rope * spatial * ph)


def ltx_rule(vae: Configs, transformer: Configs) -> SizeRule:
    """The VAE's ``patch_size * 2 ** (its scaling stages)`` (32) times the DiT's patch, and a multiple
    of 32 (LTXPipeline's rule)."""
    spatial = vae.get("spatial_compression_ratio") or (
        int(vae.get("patch_size") or 4) * 2 ** sum(bool(s) for s in (vae.get("spatio_temporal_scaling")
                                                                     or (True, True, True, False))))
    step = math.lcm(32, int(spatial) * int(transformer.get("patch_size") or 1))
    return SizeRule(step, step)


def cogvideox_rule(vae: Configs, transformer: Configs) -> SizeRule:
    """``2 ** (len(vae.block_out_channels) - 1)`` pixels a latent cell (8) times the DiT's patch (2):
    multiples of 16. CogVideoX 1.5 (``patch_size_t`` set, RoPE) slices a rotary table of
    ``sample_height / patch`` x ``sample_width / patch`` patches, so at most that many patches a side."""
    spatial = 2 ** (len(vae.get("block_out_channels") or (0,) * 4) - 1)
    patch = int(transformer.get("patch_size") or 2)
    step = spatial * patch
    if transformer.get("patch_size_t") and transformer.get("use_rotary_positional_embeddings"):
        most_w = int(transformer.get("sample_width") or 90) // patch * step
        most_h = int(transformer.get("sample_height") or 60) // patch * step
        return SizeRule(step, step, most_w, most_h)
    return SizeRule(step, step)


COGVIDEOX15_TIMING = LatentTiming(ratio=4, causal_first=True, native_fps=16, clip_frames=85)  # CogVideoX 1.5: 22 latent frames
def helios_rule(vae: Configs, transformer: Configs) -> SizeRule:
    """The VAE's ``scale_factor_spatial`` (8) times the DiT's patch (2): multiples of 16 pixels, as
    HeliosPipeline asks; no upper bound (Helios computes its rotary frequencies for any size)."""
    spatial = int(vae.get("scale_factor_spatial") or 8)
    _, ph, pw = tuple(transformer.get("patch_size") or (1, 2, 2))
    return SizeRule(spatial * pw, spatial * ph)


TI2V_TIMING = LatentTiming(ratio=4, causal_first=True, native_fps=24, clip_frames=121)  # Wan 2.2 TI2V-5B

FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("unet3d", ("TextToVideoSDPipeline",), LatentTiming(), "tiny-random", tiny_rule=SizeRule(16, 16),
           base_rule=SizeRule(8, 8), denoiser="unet", rule=unet3d_rule, schedulers=("auto", "ddim", "dpm++"),
           checkpoints=("damo-vilab/text-to-video-ms-1.7b", "cerspense/zeroscope_v2_576w")),
    Family("wan", ("WanPipeline",), LatentTiming(ratio=4, causal_first=True, native_fps=16, clip_frames=81),
           "tiny-wan", tiny_rule=SizeRule(16, 16, 16384, 16384), base_rule=SizeRule(16, 16),
           denoiser="transformer", rule=wan_rule, schedulers=("auto", "unipc", "euler"),
           hub_names=("startswith:wan-ai/", "/wan2"), index_timings=(("expand_timesteps", TI2V_TIMING),),
           checkpoints=("Wan-AI/Wan2.1-T2V-1.3B-Diffusers",)),
    Family("ltx", ("LTXPipeline",), LatentTiming(ratio=8, causal_first=True, native_fps=24, clip_frames=121),
           "tiny-ltx", tiny_rule=SizeRule(32, 32), base_rule=SizeRule(32, 32), denoiser="transformer",
           rule=ltx_rule, schedulers=("auto", "euler"), hub_names=("ltx-video", "startswith:lightricks/ltx"),
           checkpoints=("Lightricks/LTX-Video",)),
    Family("cogvideox", ("CogVideoXPipeline",), LatentTiming(ratio=4, causal_first=True, native_fps=8, clip_frames=49),
           "tiny-cogvideox", tiny_rule=SizeRule(16, 16), base_rule=SizeRule(16, 16), denoiser="transformer",
           rule=cogvideox_rule, schedulers=("auto", "ddim", "dpm++"), hub_names=("cogvideox",),
           config_timings=(("patch_size_t", COGVIDEOX15_TIMING),),
           checkpoints=("THUDM/CogVideoX-2b", "THUDM/CogVideoX-5b", "THUDM/CogVideoX1.5-5B")),
    Family("helios", ("HeliosPipeline", "HeliosPyramidPipeline"),  # a chunk: 33 frames, 9 latent frames
           LatentTiming(ratio=4, causal_first=True, native_fps=24, clip_frames=33, chunked=True), "tiny-helios",
           tiny_rule=SizeRule(16, 16), base_rule=SizeRule(16, 16), denoiser="transformer", rule=helios_rule,
           schedulers=("auto", "unipc", "euler"), hub_names=("startswith:bestwishysh/helios", "/helios-"),
           checkpoints=("BestWishYsh/Helios-Base", "BestWishYsh/Helios-Mid", "BestWishYsh/Helios-Distilled"),
           history=(16, 2, 1), sampling="chunks"),
    Family("skyreels", ("SkyReelsV2DiffusionForcingPipeline",),
           LatentTiming(ratio=4, causal_first=True, native_fps=24, clip_frames=97), "tiny-skyreels",
           tiny_rule=SizeRule(16, 16, 16384, 16384), base_rule=SizeRule(16, 16), denoiser="transformer",
           rule=wan_rule, schedulers=("auto", "unipc", "euler"), hub_names=("skyreels-v2-df",),
           checkpoints=("Skywork/SkyReels-V2-DF-1.3B-540P-Diffusers", "Skywork/SkyReels-V2-DF-14B-540P-Diffusers",
                        "Skywork/SkyReels-V2-DF-14B-720P-Diffusers"), sampling="forcing"),
    Family("wan_i2v", ("WanImageToVideoPipeline",), LatentTiming(ratio=4, causal_first=True, native_fps=16, clip_frames=81),
           "tiny-wan-i2v", tiny_rule=SizeRule(16, 16, 16384, 16384), base_rule=SizeRule(16, 16),
           denoiser="transformer", rule=wan_rule, schedulers=("auto", "unipc", "euler"),
           hub_names=("/wan2.1-i2v-", "/wan2.2-i2v-", "/wan2.1-flf2v-"),
           conditioning=("prompt", "pulse", "image", "last_image", "keyframes"),
           checkpoints=("Wan-AI/Wan2.1-I2V-14B-480P-Diffusers", "Wan-AI/Wan2.1-I2V-14B-720P-Diffusers",
                        "Wan-AI/Wan2.2-I2V-A14B-Diffusers", "Wan-AI/Wan2.1-FLF2V-14B-720P-diffusers"),
           needs_image=True),
)}


def taking(word: str) -> tuple["Family", ...]:
    """The families whose ``conditioning`` holds ``word`` (one of :data:`CONDITIONING`)."""
    return tuple(family for family in FAMILIES.values() if family.takes(word))


def tiny_family(model_id: str) -> str | None:
    """The family whose tiny random model ``model_id`` names (``tiny-wan`` -> ``wan``), or None."""
    return next((name for name, family in FAMILIES.items() if family.tiny == model_id), None)


def pipeline_family(class_name: str) -> str | None:
    """The family that drives models saved by the diffusers pipeline ``class_name``, or None."""
    return next((name for name, family in FAMILIES.items() if class_name in family.pipelines), None)


def built_in() -> tuple[str, ...]:
    """The model ids that need no weights: the preview and each family's tiny random model."""
    return (PREVIEW, *(family.tiny for family in FAMILIES.values()))


def supported_pipelines() -> str:
    """``TextToVideoSDPipeline (unet3d), WanPipeline (wan), LTXPipeline (ltx)``."""
    return ", ".join(f"{p} ({name})" for name, family in FAMILIES.items() for p in family.pipelines)


def named_family(hub_id: str) -> str | None:
    """A guess from a hub id's name (Wan-AI/Wan2.1-..., Lightricks/LTX-Video), for a model whose
    own index is not at hand."""
    best = max(FAMILIES.values(), key=lambda family: family.naming(hub_id))
    return best.name if best.naming(hub_id) else None


def rule_from_configs(family: str, vae: Configs, denoiser: Configs) -> SizeRule:
    """The size rule a model's component configs (``vae/config.json`` and the UNet's or
    transformer's) give, as the family's loaded modules apply them."""
    if family not in FAMILIES:
        raise ValueError(f"no size rule for family {family!r}")
    return FAMILIES[family].rule(vae, denoiser)


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
