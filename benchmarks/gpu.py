"""The real architectures at full size, random weights, bf16: our windowed render against the stock pipeline.

For each family: Wan 2.1 T2V 1.3B at 832x480 (81-frame windows, 16 fps), LTX-Video 2B
at 768x512 (121-frame windows, 24 fps), ModelScope 1.7B at 256x256 (16-frame windows,
8 fps), CogVideoX 5B at 720x480 (49-frame windows, 8 fps), SkyReels-V2 DF 1.3B at 960x544 (97-frame
chunks by diffusion forcing, 24 fps); with ``--families ...,helios``, Helios 14B at 640x384 (33-frame chunks
with history, 24 fps). It prints one JSON line with, per family:

- ``ours_s_per_output_frame``: our windowed render of a one-minute shot (one prompt glide),
  all of it: text encoding, denoising, decoding; and its split ``split_s``
  (``encoder``, ``denoiser``, ``vae``);
- ``stock_s_per_output_frame``: the stock diffusers pipeline (``WanPipeline``,
  ``LTXPipeline``, ``TextToVideoSDPipeline``, ``CogVideoXPipeline``,
  ``SkyReelsV2DiffusionForcingPipeline``, ``HeliosPipeline``) making one native clip, times the clips
  the same minute needs as independent clips (measured once, multiplied);
- ``peak_gpu_gb``: ``torch.cuda.max_memory_allocated`` over our render of one and four
  minutes.

Weights are random (nothing can be downloaded where it runs), so the figures are of
speed and memory, not of pictures. ``--steps`` sets the denoising steps of both (default
4: the per-step cost is what matters; a 30-step render costs about 30/4 of the denoiser's
share). Without CUDA it runs the families' tiny models on the CPU at 64x64 instead
(``--tiny``), to show the script works and what the split looks like.

    python benchmarks/gpu.py                 # on a GPU machine: about 10 minutes
    python benchmarks/gpu.py --tiny          # anywhere, in a minute
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

FULL = {  # family: (width, height, fps, model id shown)
    "wan": (832, 480, 16, "Wan 2.1 T2V 1.3B"),
    "ltx": (768, 512, 24, "LTX-Video 2B"),
    "unet3d": (256, 256, 8, "ModelScope 1.7B"),
    "cogvideox": (720, 480, 8, "CogVideoX 5B"),
    "skyreels": (960, 544, 24, "SkyReels-V2 DF 1.3B 540P"),
    "helios": (640, 384, 24, "Helios 14B"),  # opt in: --families helios (a one-minute shot is 44 chunks of a 14B DiT)
}


def full_size(family: str, dtype: torch.dtype, device: str):
    """The family's components at the real architecture's size, random weights (tiny tokenizer)."""
    import importlib

    module = importlib.import_module(f"storyboard.backends.diffusion.families.{family}")
    tiny = module.tiny_components()
    with torch.device(device):
        if family == "wan":
            from diffusers import AutoencoderKLWan, WanTransformer3DModel
            from transformers import UMT5Config, UMT5EncoderModel

            return module, replace(tiny, transformer=WanTransformer3DModel(
                patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16, out_channels=16,
                text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=30, cross_attn_norm=True,
                qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024).to(dtype),
                vae=AutoencoderKLWan().to(dtype), text_length=512, model_id="wan-1.3b-random",
                text_encoder=UMT5EncoderModel(UMT5Config(vocab_size=256384, d_model=4096, d_kv=64, d_ff=10240,
                                                         num_layers=24, num_heads=64, feed_forward_proj="gated-gelu",
                                                         dense_act_fn="gelu_new")).to(dtype))
        if family == "skyreels":  # SkyReels-V2-DF-1.3B: Wan 2.1 1.3B's DiT with the frame-rate embedding
            from diffusers import AutoencoderKLWan, SkyReelsV2Transformer3DModel
            from transformers import UMT5Config, UMT5EncoderModel

            full = replace(tiny, transformer=SkyReelsV2Transformer3DModel(
                num_attention_heads=12, attention_head_dim=128, ffn_dim=8960, num_layers=30, freq_dim=256,
                text_dim=4096, inject_sample_info=True, num_frame_per_block=1).to(dtype),
                vae=AutoencoderKLWan().to(dtype), text_length=512, model_id="skyreels-v2-df-1.3b-random",
                text_encoder=UMT5EncoderModel(UMT5Config(
                    vocab_size=256384, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
                    feed_forward_proj="gated-gelu", dense_act_fn="gelu_new")).to(dtype))
            return module, module.prepare(full)
        if family == "helios":  # HeliosTransformer3DModel's defaults are Helios' 14B DiT
            from diffusers import AutoencoderKLWan, HeliosTransformer3DModel
            from transformers import UMT5Config, UMT5EncoderModel

            full = replace(tiny, transformer=HeliosTransformer3DModel().to(dtype), vae=AutoencoderKLWan().to(dtype),
                           text_length=512, model_id="helios-14b-random",
                           text_encoder=UMT5EncoderModel(UMT5Config(
                               vocab_size=256384, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
                               feed_forward_proj="gated-gelu", dense_act_fn="gelu_new")).to(dtype))
            return module, module.prepare(full)
        if family == "ltx":
            from diffusers import AutoencoderKLLTXVideo, LTXVideoTransformer3DModel
            from transformers import T5Config, T5EncoderModel

            return module, replace(tiny, transformer=LTXVideoTransformer3DModel().to(dtype),
                                   vae=AutoencoderKLLTXVideo().to(dtype), max_sequence_length=128, model_id="ltx-2b-random",
                                   text_encoder=T5EncoderModel(T5Config(vocab_size=32128, d_model=4096, d_kv=64,
                                                                        d_ff=10240, num_layers=24, num_heads=64,
                                                                        feed_forward_proj="gated-gelu")).to(dtype))
        if family == "cogvideox":
            from diffusers import AutoencoderKLCogVideoX, CogVideoXTransformer3DModel
            from transformers import T5Config, T5EncoderModel

            transformer = CogVideoXTransformer3DModel(num_attention_heads=48, num_layers=42,
                                                      use_rotary_positional_embeddings=True).to(dtype)
            return module, replace(tiny, transformer=transformer, vae=AutoencoderKLCogVideoX().to(dtype),
                                   tokenizer=module.byte_t5_tokenizer(226), text_length=226,
                                   model_id="cogvideox-5b-random", rope_cache={},
                                   scheduler_config=dict(module.SCHEDULER, _class_name="CogVideoXDPMScheduler",
                                                         snr_shift_scale=1.0),
                                   text_encoder=T5EncoderModel(T5Config(vocab_size=32128, d_model=4096, d_kv=64,
                                                                        d_ff=10240, num_layers=24, num_heads=64,
                                                                        feed_forward_proj="gated-gelu")).to(dtype))
        from diffusers import AutoencoderKL, UNet3DConditionModel
        from transformers import CLIPTextConfig, CLIPTextModel

        return module, replace(tiny, unet=UNet3DConditionModel(cross_attention_dim=1024, attention_head_dim=64).to(dtype),
                               vae=AutoencoderKL(block_out_channels=(128, 256, 512, 512), layers_per_block=2,
                                                 down_block_types=("DownEncoderBlock2D",) * 4,
                                                 up_block_types=("UpDecoderBlock2D",) * 4).to(dtype),
                               text_encoder=CLIPTextModel(CLIPTextConfig(hidden_size=1024, intermediate_size=4096,
                                                                         num_attention_heads=16, num_hidden_layers=23,
                                                                         vocab_size=514, max_position_embeddings=77,
                                                                         bos_token_id=512, eos_token_id=513,
                                                                         pad_token_id=513)).to(dtype),
                               model_id="modelscope-1.7b-random", context=None)


def plan_for(family: str, width: int, height: int, fps: int, seconds: float, steps: int):
    from storyboard.plan.compile import compile_plan
    from storyboard.script.load import load_script_text

    text = (f"output: {{width: {width}, height: {height}, fps: {fps}}}\nmodel: {{id: tiny-{family if family != 'unet3d' else 'random'}, "
            f"steps: {steps}, guidance: 5}}\nscenes:\n  - {{duration: {seconds}s, prompts: [a red room, a blue sea]}}\n")
    return compile_plan(load_script_text(text, "bench.yaml"))


def ours(module, components, plan, device: str, dtype: torch.dtype) -> dict[str, float]:
    """Our render of the plan's one shot: seconds in the encoder, the denoiser and the VAE."""
    from storyboard.backends.diffusion.backend import DiffusionBackend

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    started = time.perf_counter()
    backend = DiffusionBackend(module, components, plan, device, dtype)
    sync()
    encoded = time.perf_counter()
    shot = plan.shots[0]
    latents = backend.latents(shot)
    sync()
    denoised = time.perf_counter()
    frames = sum(1 for _ in backend.decode(latents, backend.timeline(shot)))
    sync()
    assert frames == plan.total_frames
    return {"encoder": encoded - started, "denoiser": denoised - encoded, "vae": time.perf_counter() - denoised}


def stock_clip_s(family: str, components, width: int, height: int, steps: int) -> tuple[float, int]:
    """Seconds for the stock pipeline to make one native clip, and the clip's frames."""
    from diffusers import LTXPipeline, WanPipeline

    frames = {"wan": 81, "ltx": 121, "unet3d": 16, "cogvideox": 49, "helios": 66, "skyreels": 97}[family]  # helios: 2 chunks
    if family == "cogvideox":
        from diffusers import CogVideoXPipeline

        pipe = CogVideoXPipeline(tokenizer=components.tokenizer, text_encoder=components.text_encoder,
                                 transformer=components.transformer, vae=components.vae,
                                 scheduler=_scheduler(family, components))
    elif family == "skyreels":  # one chunk of 97 frames: base_num_frames, no history
        from diffusers import SkyReelsV2DiffusionForcingPipeline

        pipe = SkyReelsV2DiffusionForcingPipeline(tokenizer=components.tokenizer, text_encoder=components.text_encoder,
                                                  transformer=components.transformer, vae=components.vae,
                                                  scheduler=_scheduler(family, components))
    elif family == "helios":
        from diffusers import HeliosPipeline

        pipe = HeliosPipeline(tokenizer=components.tokenizer, text_encoder=components.text_encoder,
                              transformer=components.transformer, vae=components.vae,
                              scheduler=_scheduler(family, components))
    elif family == "wan":
        pipe = WanPipeline(tokenizer=components.tokenizer, text_encoder=components.text_encoder,
                           transformer=components.transformer, vae=components.vae, scheduler=_scheduler(family, components))
    elif family == "ltx":
        pipe = LTXPipeline(tokenizer=components.tokenizer, text_encoder=components.text_encoder,
                           transformer=components.transformer, vae=components.vae, scheduler=_scheduler(family, components))
    else:
        from diffusers import TextToVideoSDPipeline

        pipe = TextToVideoSDPipeline(vae=components.vae, text_encoder=components.text_encoder, tokenizer=components.tokenizer,
                                     unet=components.unet, scheduler=_scheduler(family, components))
    pipe.set_progress_bar_config(disable=True)
    started = time.perf_counter()
    extra = {"max_sequence_length": components.text_length} if family in ("cogvideox", "helios") else {}
    pipe(prompt="a red room", negative_prompt="blurry", height=height, width=width, num_frames=frames,
         num_inference_steps=steps, guidance_scale=5.0, output_type="np", **extra)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - started, frames


def _scheduler(family: str, components):
    from diffusers import (
        DDIMScheduler,
        FlowMatchEulerDiscreteScheduler,
        UniPCMultistepScheduler,
    )

    if family == "cogvideox":
        from diffusers import CogVideoXDDIMScheduler, CogVideoXDPMScheduler

        saved = components.scheduler_config.get("_class_name")
        kind = CogVideoXDPMScheduler if saved == "CogVideoXDPMScheduler" else CogVideoXDDIMScheduler
        return kind.from_config(components.scheduler_config)
    if family in ("helios", "skyreels"):
        module = __import__(f"storyboard.backends.diffusion.families.{family}", fromlist=["scheduler"])
        return module.scheduler(components, "auto")
    if family == "wan":
        return UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    if family == "ltx":
        return FlowMatchEulerDiscreteScheduler(**{k: v for k, v in components.scheduler_config.items()
                                                  if not k.startswith("_")})
    return DDIMScheduler.from_config(components.scheduler_config)


def measure(family: str, tiny: bool, steps: int, device: str, dtype: torch.dtype) -> dict:
    import importlib

    width, height, fps, name = (64, 64, FULL[family][2], f"tiny-{family}") if tiny else FULL[family]
    if tiny:
        module = importlib.import_module(f"storyboard.backends.diffusion.families.{family}")
        components = module.tiny_components(dtype=dtype)
    else:
        module, components = full_size(family, dtype, device)
    module.check_size(components, width, height)
    result: dict = {"model": name, "size": f"{width}x{height}", "fps": fps, "steps": steps}
    for minutes in (1, 4) if not tiny else (1,):
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        plan = plan_for(family, width, height, fps, 60 * minutes, steps)
        split = ours(module, components, plan, device, dtype)
        if minutes == 1:
            result["ours_s_per_output_frame"] = round(sum(split.values()) / plan.total_frames, 5)
            result["split_s"] = {k: round(v, 2) for k, v in split.items()}
        if device == "cuda":
            result.setdefault("peak_gpu_gb", {})[f"{minutes}min"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    clip_s, clip_frames = stock_clip_s(family, components, width, height, steps)
    clips = -(-60 * fps // clip_frames)
    result["stock_clip_s"] = round(clip_s, 2)
    result["stock_s_per_output_frame"] = round(clip_s * clips / (60 * fps), 5)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="the tiny random models on the CPU, at 64x64")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--families", default="wan,ltx,unet3d,cogvideox,skyreels",
                        help="comma-separated; helios (a 14B DiT, 44 chunks a minute) is opt-in")
    args = parser.parse_args()
    tiny = args.tiny or not torch.cuda.is_available()
    device = "cuda" if torch.cuda.is_available() and not tiny else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    out = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "dtype": str(dtype).split(".")[-1],
           "tiny": tiny, "families": {}}
    for family in args.families.split(","):
        out["families"][family] = measure(family, tiny, args.steps, device, dtype)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
