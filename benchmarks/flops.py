"""FLOPs and denoiser forwards per second of video, counted on the meta device: our render against stock clips.

Hardware-independent: each family's full-size architecture (the configs of
``benchmarks/gpu.py``: Wan 2.1 T2V 1.3B at 832x480, 81-frame clips at 16 fps; LTX-Video 2B
at 768x512, 121-frame clips at 24 fps, its VAE compressing 32x in space and 8x in time;
ModelScope 1.7B at 256x256, 16-frame clips at 8 fps) is built on ``torch.device("meta")``
(shapes only, no memory, no weights) and run under ``torch.utils.flop_counter.FlopCounterMode``.
That counts matrix multiplications, convolutions and attention, 2 FLOPs per multiply-add;
normalisations, activations and other elementwise work are not counted.

For a one-minute shot (``--seconds``) of one prompt glide, at the project's default
``model.steps``, ``model.guidance`` and ``model.window.overlap`` (read from the compiled plan),
it prints one JSON object with, per family:

- ``ours_*``: our render, its windows as the sampler runs them (the plan's windows, or
  :func:`storyboard.backends.latents.shot_latents`'s for families that compress time), each
  window through the denoiser once per step and guidance branch;
- ``stock_*``: the stock pipeline (``WanPipeline``, ``LTXPipeline``, ``TextToVideoSDPipeline``)
  making the same length as independent native clips, at the same steps and guidance;
- the denoiser's FLOPs and forwards per output second (a forward is one window, or clip,
  through the denoiser for one guidance branch: a guided batch of two counts two), the
  VAE decode's FLOPs per output second (ours as our families decode: Wan latent frame by
  latent frame, LTX in overlapping chunks, ModelScope frame by frame), the text encoder's
  FLOPs per prompt;
- the bound on an H200: at :data:`H200_TFLOP_PER_S` dense bf16 and no other cost, the
  seconds of GPU time per second of video and the frames per second that allows.

Wan 2.2 TI2V-5B is not counted: no full-size config of it is in the project yet.
A denoiser forward over a full window is counted whole (a few seconds on the meta device),
once per window length, and multiplied by the forwards.

    python benchmarks/flops.py                  # all families, under a minute on 2 cores
    python benchmarks/flops.py --family wan
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Any, Callable

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

H200_TFLOP_PER_S = 989.0  # an H200's dense bf16 tensor throughput, TFLOP/s (no sparsity)
PROMPTS = ("a red room", "a blue sea")  # the shot's glide: ours encodes both and the negative once
TINY_IDS = {"unet3d": "tiny-random", "wan": "tiny-wan", "ltx": "tiny-ltx"}  # ids that tell the plan the family
TEXT_TOKENS = {"unet3d": 77, "wan": 512, "ltx": 128}  # tokens per prompt, as the stock pipelines pad them


def count_flops(run: Callable[[], Any]) -> int:
    """FLOPs of ``run()`` as ``FlopCounterMode`` counts them (matmuls, convolutions, attention)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        run()
    return int(counter.get_total_flops())


def plan_shot(family: str, width: int, height: int, fps: int, seconds: float):
    """The plan of one ``seconds`` shot (a glide between :data:`PROMPTS`) at the project's defaults."""
    from storyboard.plan.compile import compile_plan
    from storyboard.script.load import load_script_text

    text = (f"output: {{width: {width}, height: {height}, fps: {fps}}}\nmodel: {TINY_IDS[family]}\n"
            f"scenes:\n  - {{duration: {seconds}s, prompts: [{', '.join(PROMPTS)}]}}\n")
    return compile_plan(load_script_text(text, "flops.yaml"))


def shot_windows(timing, plan) -> tuple[tuple[tuple[int, int], ...], int, int]:
    """The windows our sampler runs over the plan's one shot (latent frames), the shot's latent
    frames and its native frames, for a family of ``timing`` (its ``TIMING``), checked against
    :func:`latent_evaluations` (the count ``render`` prints)."""
    from storyboard.backends.latents import latent_evaluations, shot_latents

    shot, overlap = plan.shots[0], plan.model.window.overlap
    if timing.ratio == 1 and timing.native_fps is None:  # a latent frame per frame: the plan's own windows
        windows, latent, native = tuple(shot.windows), shot.length, shot.length
    else:
        mapped = shot_latents(shot, plan.fps, timing, overlap)
        windows, latent, native = tuple(mapped.windows), mapped.latent, mapped.native
    evaluations = latent_evaluations(shot, plan.fps, overlap, plan.model.id)
    if sum(e - s for s, e in windows) != evaluations:
        raise AssertionError(f"{plan.model.id}: windows cover {sum(e - s for s, e in windows)} latent frames, "
                             f"latent_evaluations says {evaluations}")
    return windows, latent, native


def forward_flops(family: str, module, c, latent_frames: int, width: int, height: int, batch: int = 1) -> int:
    """FLOPs of one denoiser forward over ``latent_frames`` latent frames at ``width`` x ``height``
    pixels, with one prompt's text at the stock pipeline's length; ``batch`` 1 is one guidance branch."""
    device = "meta"
    model = c.unet if family == "unet3d" else c.transformer
    kw = {"device": device, "dtype": next(model.parameters()).dtype}
    channels, factor = module.latent_channels(c), module.spatial_factor(c)
    h, w = height // factor, width // factor
    t = torch.full((batch,), 500.0, device=device)
    tokens = TEXT_TOKENS[family]
    if family == "wan":
        x = torch.empty(batch, channels, latent_frames, h, w, **kw)
        text = torch.empty(batch, tokens, c.transformer.config.text_dim, **kw)
        return count_flops(lambda: c.transformer(hidden_states=x, timestep=t, encoder_hidden_states=text,
                                                 return_dict=False))
    if family == "ltx":
        patch_t, patch = c.patch
        tokens_in, width_in = latent_frames * h * w // (patch_t * patch * patch), channels * patch_t * patch * patch
        x = torch.empty(batch, tokens_in, width_in, **kw)
        text = torch.empty(batch, tokens, c.transformer.config.caption_channels, **kw)
        mask = torch.ones(batch, tokens, device=device)
        fps = module.TIMING.native_fps
        return count_flops(lambda: c.transformer(
            hidden_states=x, encoder_hidden_states=text, timestep=t, encoder_attention_mask=mask,
            num_frames=latent_frames // patch_t, height=h // patch, width=w // patch,
            rope_interpolation_scale=(c.temporal_ratio / fps, c.spatial_ratio, c.spatial_ratio), return_dict=False))
    x = torch.empty(batch, channels, latent_frames, h, w, **kw)
    text = torch.empty(batch, tokens, c.unet.config.cross_attention_dim, **kw)
    return count_flops(lambda: c.unet(x, t, encoder_hidden_states=text))


def text_flops(family: str, c) -> int:
    """FLOPs of encoding one prompt at the stock pipeline's token length (without its attention
    mask, which changes no matmul: the padded tokens are computed either way)."""
    ids = torch.zeros(1, TEXT_TOKENS[family], dtype=torch.long, device="meta")
    return count_flops(lambda: c.text_encoder(input_ids=ids))


def decode_flops(family: str, module, c, latent_frames: int, width: int, height: int, *, stock: bool = False) -> int:
    """FLOPs of decoding ``latent_frames`` latent frames as our family's ``decode`` does it (``stock``:
    as the stock pipeline does, which differs for LTX only: one ``vae.decode`` of the whole clip)."""
    factor = module.spatial_factor(c)
    h, w = height // factor, width // factor
    dtype = next(c.vae.parameters()).dtype
    if family == "wan":
        # Latent frame by latent frame with the causal cache (wan.decode_chunks): the first latent
        # frame decodes to 1 frame, every later one to 4 at one cost; counted on three, multiplied.
        z = torch.empty(1, module.latent_channels(c), min(latent_frames, 3), h, w, device="meta", dtype=dtype)
        chunks = module.decode_chunks(c, z, "meta")
        costs = [count_flops(lambda: next(chunks)) for _ in range(z.shape[2])]
        if len(costs) == 3 and costs[1] != costs[2]:
            raise AssertionError(f"Wan's VAE: latent frames 1 and 2 cost {costs[1]} and {costs[2]} FLOPs")
        return costs[0] + (latent_frames - 1) * costs[-1] if latent_frames > 1 else costs[0]
    if family == "ltx" and stock:
        z = torch.empty(1, module.latent_channels(c), latent_frames, h, w, device="meta", dtype=dtype)
        return count_flops(lambda: module.decode_latents(c, z, 0, "meta", dtype))
    if family == "ltx":
        # Overlapping chunks of decode_chunk latent frames (ltx.decode_chunks, ltx.decode_latents).
        per_length: dict[int, int] = {}
        total = 0
        for start, end in module.decode_chunks(latent_frames, c.decode_chunk, c.decode_overlap):
            if end - start not in per_length:
                z = torch.empty(1, module.latent_channels(c), end - start, h, w, device="meta", dtype=dtype)
                per_length[end - start] = count_flops(lambda: module.decode_latents(c, z, start, "meta", dtype))
            total += per_length[end - start]
        return total
    # ModelScope's VAE is an image VAE: every latent frame decodes on its own.
    z = torch.empty(1, c.vae.config.latent_channels, h, w, device="meta", dtype=dtype)
    return latent_frames * count_flops(lambda: c.vae.decode(z))


def render_counts(windows, steps: int, guided: bool) -> dict[str, int]:
    """Denoiser work of one render: ``windows`` (latent frame ranges) each run once per step and
    guidance branch. ``calls``: the sampler's denoiser calls (both branches in one batch);
    ``forwards``: window forwards counting each branch; ``latent_frames``: latent frame evaluations."""
    branches = 2 if guided else 1
    return {"calls": len(windows) * steps, "forwards": len(windows) * steps * branches,
            "latent_frames": sum(e - s for s, e in windows) * steps * branches}


def sig(x: float, digits: int = 4) -> float:
    """``x`` rounded to ``digits`` significant digits (tiny models' figures stay readable)."""
    return float(f"{x:.{digits}g}")


def measure(family: str, module, c, width: int, height: int, fps: int, seconds: float,
            peak_tflop_per_s: float = H200_TFLOP_PER_S) -> dict[str, Any]:
    """The figures of one family (components ``c`` built on the meta device) for a ``seconds`` shot."""
    plan = plan_shot(family, width, height, fps, seconds)
    steps, guidance = plan.model.steps, plan.model.guidance
    guided = guidance > 1.0
    timing = module.TIMING
    windows, latent, native = shot_windows(timing, plan)
    video_s = plan.total_frames / fps
    per_window: dict[int, int] = {}
    for s, e in windows:
        if e - s not in per_window:
            per_window[e - s] = forward_flops(family, module, c, e - s, width, height)
    clip_latents = timing.clip_latents
    clip_forward = per_window.get(clip_latents) or forward_flops(family, module, c, clip_latents, width, height)
    clips = math.ceil(native / timing.clip_frames)  # stock: independent native clips covering the shot
    branches = 2 if guided else 1
    ours = render_counts(windows, steps, guided)
    ours_denoiser = sum(per_window[e - s] for s, e in windows) * steps * branches
    stock_forwards = clips * steps * branches
    stock_denoiser = stock_forwards * clip_forward
    prompt = text_flops(family, c)
    ours_vae = decode_flops(family, module, c, latent, width, height)
    stock_vae = clips * decode_flops(family, module, c, clip_latents, width, height, stock=True)
    ours_text = (len(PROMPTS) + 1) * prompt  # each prompt of the glide and the negative, once
    stock_text = clips * 2 * prompt  # each clip encodes its prompt and the negative
    ours_total = (ours_denoiser + ours_vae + ours_text) / video_s
    stock_total = (stock_denoiser + stock_vae + stock_text) / video_s
    tera = 1e12
    return {
        "size": f"{width}x{height}", "fps": fps, "shot_s": sig(video_s), "steps": steps, "guidance": guidance,
        "overlap_latent_frames": plan.model.window.overlap, "clip_frames": timing.clip_frames,
        "window_latent_frames": clip_latents, "shot_latent_frames": latent,
        "denoiser_tflop_per_forward": sig(clip_forward / tera),
        "text_encoder_tflop_per_prompt": sig(prompt / tera),
        "ours_windows": len(windows),
        "ours_denoiser_forwards_per_output_s": sig(ours["forwards"] / video_s),
        "ours_latent_frame_evaluations_per_output_s": sig(ours["latent_frames"] / video_s),
        "ours_denoiser_tflop_per_output_s": sig(ours_denoiser / video_s / tera),
        "ours_vae_decode_tflop_per_output_s": sig(ours_vae / video_s / tera),
        "ours_h200_s_per_output_s": sig(ours_total / (peak_tflop_per_s * tera)),
        "ours_h200_bound_frames_per_s": sig(fps * peak_tflop_per_s * tera / ours_total),
        "stock_clips": clips,
        "stock_denoiser_forwards_per_output_s": sig(stock_forwards / video_s),
        "stock_latent_frame_evaluations_per_output_s": sig(stock_forwards * clip_latents / video_s),
        "stock_denoiser_tflop_per_output_s": sig(stock_denoiser / video_s / tera),
        "stock_vae_decode_tflop_per_output_s": sig(stock_vae / video_s / tera),
        "stock_h200_s_per_output_s": sig(stock_total / (peak_tflop_per_s * tera)),
        "stock_h200_bound_frames_per_s": sig(fps * peak_tflop_per_s * tera / stock_total),
        "ours_over_stock_forwards": sig(ours["forwards"] / stock_forwards),
        "ours_over_stock_denoiser_flop": sig(ours_denoiser / stock_denoiser),
    }


def full_size_meta(family: str):
    """The family module and its full-size components on the meta device (``benchmarks/gpu.py``'s configs)."""
    from gpu import full_size

    return full_size(family, torch.bfloat16, "meta")


def main() -> None:
    from gpu import FULL

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", choices=sorted(FULL), action="append",
                        help="count only this family (repeatable; default: all)")
    parser.add_argument("--seconds", type=float, default=60.0, help="the shot's length in seconds (default 60)")
    args = parser.parse_args()
    out: dict[str, Any] = {
        "counted": "torch FlopCounterMode on the meta device: matmuls, convolutions, attention; 2 FLOPs per "
                   "multiply-add; elementwise work not counted",
        "assumed_h200_dense_bf16_tflop_per_s": H200_TFLOP_PER_S,
        "families": {},
    }
    for family in args.family or ["unet3d", "wan", "ltx"]:
        width, height, fps, name = FULL[family]
        module, components = full_size_meta(family)
        out["families"][family] = {"model": name, **measure(family, module, components, width, height, fps,
                                                             args.seconds)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
