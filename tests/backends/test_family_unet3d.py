"""The ``unet3d`` family drives ModelScope's UNet3D as its authors do: with one prompt, one
window, the same noise, steps and guidance, our sampler's latents equal diffusers' own
``TextToVideoSDPipeline``'s."""

from __future__ import annotations

import warnings

import pytest
import torch

from storyboard.backends.diffusion.families import load_components, unet3d
from storyboard.backends.diffusion.prompts import PromptTable
from storyboard.backends.diffusion.sampler import sample
from storyboard.plan.data import FrameCond

FRAMES, HEIGHT, WIDTH, STEPS, GUIDANCE = 8, 32, 64, 3, 7.5


@pytest.mark.parametrize("scheduler", ["ddim", "dpm++"])
def test_latents_equal_the_stock_pipeline(tiny, tmp_path, scheduler):
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from diffusers import TextToVideoSDPipeline

    _, c = load_components(str(unet3d.save_components(tiny, tmp_path / "m")))
    noise = torch.randn(1, 4, FRAMES, HEIGHT // 8, WIDTH // 8, generator=torch.Generator().manual_seed(3))
    if scheduler == "ddim":
        stock_scheduler = DDIMScheduler.from_config(c.scheduler_config)
    else:
        stock_scheduler = DPMSolverMultistepScheduler.from_config(c.scheduler_config, algorithm_type="dpmsolver++",
                                                                  solver_order=2)
    pipe = TextToVideoSDPipeline(vae=c.vae, text_encoder=c.text_encoder, tokenizer=c.tokenizer, unet=c.unet,
                                 scheduler=stock_scheduler)
    pipe.set_progress_bar_config(disable=True)
    theirs = pipe(prompt="a red room", negative_prompt="blurry", height=HEIGHT, width=WIDTH, num_frames=FRAMES,
                  num_inference_steps=STEPS, guidance_scale=GUIDANCE, latents=noise.clone(), output_type="latent").frames

    table = PromptTable.of(unet3d.encode_prompts(c, ["a red room"], "cpu"), unet3d.encode_prompts(c, ["blurry"], "cpu"))
    conds = [FrameCond(0, 0, 0.0, 0)] * FRAMES
    denoiser = unet3d.Denoiser(c, table, conds, GUIDANCE, torch.float32)
    ours = sample(denoiser, unet3d.scheduler(c, scheduler), noise.clone(), [(0, FRAMES)], steps=STEPS)
    assert ours.shape == theirs.shape
    print(f"unet3d {scheduler}: max abs difference {float((ours - theirs).abs().max()):.3g}")
    assert torch.allclose(ours, theirs.float(), atol=1e-4), float((ours - theirs).abs().max())
