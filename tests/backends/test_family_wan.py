"""The ``wan`` family on tiny random models: equal to the stock WanPipeline, per-frame prompts, streamed decoding."""

from __future__ import annotations

import dataclasses
import shutil
import time

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("accelerate")  # diffusers needs it to load a WanTransformer3DModel

from helpers import torch_peak_bytes  # noqa: E402

from storyboard.backends.diffusion.families import wan  # noqa: E402
from storyboard.backends.diffusion.loading import ModelUnavailable  # noqa: E402
from storyboard.backends.diffusion.prompts import PromptTable  # noqa: E402
from storyboard.backends.diffusion.sampler import sample  # noqa: E402
from storyboard.errors import UsageError  # noqa: E402
from storyboard.plan.data import FrameCond  # noqa: E402

PROMPT = "a  red kite &amp; a   blue sky "  # the pipeline cleans entities and whitespace; so must we
NEGATIVE = "blurry, static"
FRAMES, SIZE = 17, 64  # 17 frames are 5 latent frames of 8 x 8 cells
LATENTS = wan.TIMING.latent_frames(FRAMES)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """tiny-wan written by the stock WanPipeline.save_pretrained."""
    return wan.save_components(wan.tiny_components(), tmp_path_factory.mktemp("tiny-wan"))


@pytest.fixture(scope="module")
def saved_a14b(tmp_path_factory):
    """A tiny Wan 2.2 A14B: two experts switching at boundary_ratio 0.875."""
    return wan.save_components(wan.tiny_components(seed=1, experts=2, boundary_ratio=0.875),
                               tmp_path_factory.mktemp("tiny-wan-a14b"))


def noise_for(c, seed: int = 0, frames: int = LATENTS, size: int = SIZE) -> torch.Tensor:
    """Unit Gaussian latents ``[1, C, frames, h, w]`` for ``frames`` latent frames of ``size`` x ``size`` pixels."""
    shape = (1, wan.latent_channels(c), frames, size // wan.spatial_factor(c), size // wan.spatial_factor(c))
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def stock_latents(folder, c, noise, steps: int, **call) -> torch.Tensor:
    from diffusers import WanPipeline

    pipe = WanPipeline.from_pretrained(folder, dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    out = pipe(prompt=PROMPT, negative_prompt=NEGATIVE, height=SIZE, width=SIZE, num_frames=FRAMES,
               num_inference_steps=steps, latents=noise.clone(), output_type="latent",
               max_sequence_length=c.text_length, **call)
    return out.frames


def our_latents(c, noise, steps: int, guidance: float = 5.0, **denoiser) -> torch.Tensor:
    table = PromptTable.of(wan.encode_prompts(c, [PROMPT], "cpu"), wan.encode_prompts(c, [NEGATIVE], "cpu"))
    conds = [FrameCond(0, 0, 0.0, 0) for _ in range(noise.shape[2])]
    den = wan.Denoiser(c, table, conds, guidance, torch.float32, **denoiser)
    with torch.no_grad():
        return sample(den, wan.scheduler(c, "auto"), noise, [(0, noise.shape[2])], steps=steps)


# --- the stock pipeline as reference ------------------------------------------------------------


def test_our_sampling_equals_the_stock_wan_pipeline(saved):
    c = wan.load(str(saved), "tiny-wan", {}, torch.float32)
    assert c.transformer_2 is None and c.boundary_ratio is None and c.text_length == wan.TINY_TEXT_LENGTH
    noise = noise_for(c)
    ours = our_latents(c, noise, steps=3)
    reference = stock_latents(saved, c, noise, steps=3, guidance_scale=5.0)
    assert ours.shape == reference.shape == noise.shape
    assert float((ours - reference).abs().max()) < 1e-4
    assert float((ours - noise).abs().mean()) > 0.1  # it did denoise


def test_our_prompt_embeddings_are_the_pipelines(saved):
    from diffusers import WanPipeline

    c = wan.load(str(saved), "tiny-wan", {}, torch.float32)
    pipe = WanPipeline.from_pretrained(saved, dtype=torch.float32)
    theirs, negative = pipe.encode_prompt(PROMPT, NEGATIVE, max_sequence_length=c.text_length, device="cpu")
    encoded = wan.encode_prompts(c, [PROMPT, NEGATIVE], "cpu")
    ours = encoded.embeddings
    torch.testing.assert_close(ours, torch.cat([theirs, negative]), rtol=0, atol=1e-5)  # batched: not bit-equal
    tokens = len(c.tokenizer("a red kite & a blue sky").input_ids)  # the cleaned prompt and </s>
    assert bool((ours[0, tokens:] == 0).all()) and bool((ours[0, :tokens] != 0).any(dim=-1).all())
    assert encoded.masks[0].tolist() == [True] * tokens + [False] * (c.text_length - tokens)  # the mask travels along


def test_two_experts_switch_at_the_boundary_like_the_stock_pipeline(saved_a14b):
    c = wan.load(str(saved_a14b), "tiny-wan", {}, torch.float32)
    assert c.transformer_2 is not None and c.boundary_ratio == 0.875
    seen: list[str] = []
    for name in ("transformer", "transformer_2"):
        getattr(c, name).register_forward_pre_hook(lambda *_, name=name: seen.append(name))
    noise = noise_for(c, seed=2)
    ours = our_latents(c, noise, steps=3, guidance_2=3.0)  # timesteps 999, 857, 601 (flow shift 3)
    assert seen == ["transformer", "transformer_2", "transformer_2"]
    reference = stock_latents(saved_a14b, c, noise, steps=3, guidance_scale=5.0, guidance_scale_2=3.0)
    assert float((ours - reference).abs().max()) < 1e-4


def test_ti2v_reads_its_16x_vae_and_takes_a_timestep_per_token():
    """Wan 2.2 TI2V-5B: a VAE of 16 pixels per cell (patchified, residual) and expanded timesteps."""
    from diffusers import AutoencoderKLWan, WanTransformer3DModel

    base = wan.tiny_components()
    torch.manual_seed(3)
    vae = AutoencoderKLWan(base_dim=8, z_dim=48, dim_mult=[1, 1, 1, 1], num_res_blocks=1, is_residual=True,
                           temperal_downsample=[False, True, True], patch_size=2, scale_factor_spatial=16,
                           in_channels=12, out_channels=12, latents_mean=[0.1] * 48, latents_std=[2.0] * 48)
    model = WanTransformer3DModel(**{**wan.TINY_TRANSFORMER, "in_channels": 48, "out_channels": 48})
    c = wan.prepare(dataclasses.replace(base, vae=vae.eval(), transformer=model.eval(), expand_timesteps=True))
    assert wan.spatial_factor(c) == 16 and wan.size_rule(c).width_step == wan.size_rule(c).height_step == 32 and wan.latent_channels(c) == 48
    noise = noise_for(c, frames=2)
    latents = our_latents(c, noise, steps=2)
    frames = list(wan.decode(c, latents, "cpu"))
    assert len(frames) == wan.TIMING.decoded_frames(2) and frames[0].shape == (SIZE, SIZE, 3)


# --- per-frame cross-attention ------------------------------------------------------------------


def attention_inputs(c, frames: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    dim = c.transformer.config.num_attention_heads * c.transformer.config.attention_head_dim
    video = torch.randn(2, frames * 16, dim, generator=g)  # 16 tokens per latent frame
    texts = torch.randn(3, 2, c.text_length, dim, generator=g)  # 3 prompts, batch 2
    return video, texts


def test_per_frame_cross_attention_groups_tokens_by_latent_frame():
    from diffusers.models.transformers.transformer_wan import WanAttnProcessor

    c = wan.tiny_components()
    attn = c.transformer.blocks[0].attn2
    video, texts = attention_inputs(c, frames=3)
    stock = lambda text: WanAttnProcessor()(attn, video, text)  # noqa: E731
    with torch.no_grad():
        c.slots.index, c.slots.slots = torch.zeros(3, dtype=torch.long), 1
        same = attn(video, texts[0])
        c.slots.index, c.slots.slots = torch.tensor([2, 0, 1]), 3
        mixed = attn(video, torch.cat(list(texts), dim=1))  # slots side by side: [B, 3 * L, C]
        c.slots.index = None
        torch.testing.assert_close(same, stock(texts[0]), rtol=0, atol=1e-5)
        for frame, prompt in enumerate([2, 0, 1]):
            part = slice(frame * 16, (frame + 1) * 16)
            torch.testing.assert_close(mixed[:, part], stock(texts[prompt])[:, part], rtol=0, atol=1e-5)


def test_per_frame_prompts_in_the_whole_transformer():
    """One block: frame k's output is a stock run's with prompt k (self-attention comes before the text)."""
    c = wan.tiny_components(num_layers=1)
    g = torch.Generator().manual_seed(5)
    x = torch.randn(1, 16, 3, 8, 8, generator=g)
    texts = torch.randn(2, 1, c.text_length, c.transformer.config.text_dim, generator=g)
    t = torch.tensor([700])

    def run(text, index=None, slots=1):
        c.slots.index, c.slots.slots = index, slots
        try:
            with torch.no_grad():
                return c.transformer(hidden_states=x, timestep=t, encoder_hidden_states=text, return_dict=False)[0]
        finally:
            c.slots.index = None

    stock = [run(texts[0]), run(texts[1])]
    torch.testing.assert_close(run(texts[0], torch.zeros(3, dtype=torch.long)), stock[0], rtol=0, atol=1e-5)
    mixed = run(torch.cat(list(texts), dim=1), torch.tensor([1, 0, 1]), 2)
    for frame, prompt in enumerate([1, 0, 1]):
        torch.testing.assert_close(mixed[:, :, frame], stock[prompt][:, :, frame], rtol=0, atol=1e-5)
    assert float((mixed - stock[0]).abs().max()) > 1e-3


def test_the_denoiser_gives_each_latent_frame_its_own_prompt():
    c = wan.tiny_components()
    table = PromptTable.of(wan.encode_prompts(c, ["a red kite", "a green field"], "cpu"), wan.encode_prompts(c, [""], "cpu"))
    x, t = noise_for(c), torch.tensor(900)
    held = [FrameCond(0, 0, 0.0, 0)] * LATENTS
    glide = [FrameCond(0, 1, k / (LATENTS - 1), 0) for k in range(LATENTS)]
    with torch.no_grad():
        a = wan.Denoiser(c, table, held, 5.0, torch.float32)(x, t, (0, LATENTS))
        b = wan.Denoiser(c, table, glide, 5.0, torch.float32)(x, t, (0, LATENTS))
        pulsed = [dataclasses.replace(f, pulse=1.0) if k == 2 else f for k, f in enumerate(held)]
        p = wan.Denoiser(c, table, pulsed, 5.0, torch.float32)(x, t, (0, LATENTS))
    assert a.shape == x.shape and float((a - b).abs().max()) > 1e-4
    assert float((p - a)[:, :, 2].abs().max()) > 1e-4  # the pulsed latent frame is guided harder


# --- decoding -----------------------------------------------------------------------------------


def test_chunked_decoding_equals_one_vae_decode():
    c = wan.tiny_components()
    latents = noise_for(c, seed=4, frames=4, size=32)
    vae = c.vae
    mean = torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1)
    std = torch.tensor(vae.config.latents_std).view(1, -1, 1, 1, 1)
    with torch.no_grad():
        whole = vae.decode(latents * std + mean).sample
    chunks = list(wan.decode_chunks(c, latents, "cpu"))
    assert [x.shape[2] for x in chunks] == [1, 4, 4, 4]
    assert float((torch.cat(chunks, dim=2) - whole).abs().max()) < 1e-5
    frames = list(wan.decode(c, latents, "cpu"))
    expected = ((whole / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)[0].permute(1, 2, 3, 0).numpy()
    assert len(frames) == wan.TIMING.decoded_frames(4) == 13
    assert frames[0].shape == (32, 32, 3) and frames[0].dtype.name == "uint8"
    assert max(int(abs(f.astype(int) - e.astype(int)).max()) for f, e in zip(frames, expected)) <= 1


def test_decoding_memory_is_flat_in_the_shots_length():
    """4x the latent frames, the same peak: a decoder that held the video (vae.decode does) grows by
    about the extra frames' size (0.57 MB here), so growth must stay under a quarter of that."""
    c = wan.tiny_components()

    def streamed(latent_frames: int):
        latents = torch.randn(1, 16, latent_frames, 4, 4, generator=torch.Generator().manual_seed(0))
        return lambda: [None for _ in wan.decode(c, latents, "cpu")]  # 32 x 32 pixels

    short, long = torch_peak_bytes(streamed(4)), torch_peak_bytes(streamed(16))
    extra = (wan.TIMING.decoded_frames(16) - wan.TIMING.decoded_frames(4)) * 3 * 32 * 32 * 4  # as float32
    assert 0 < long <= 1.3 * short, f"peak {short / 2**20:.2f} MB for 4 latent frames, {long / 2**20:.2f} MB for 16"
    assert long - short < extra / 4


# --- loading, sizes, schedulers -----------------------------------------------------------------


def test_a_folder_without_its_transformer_is_unavailable_at_once(saved, tmp_path):
    broken = tmp_path / "no-transformer"
    shutil.copytree(saved, broken, ignore=lambda folder, names: ["transformer"] if folder == str(saved) else [])
    began = time.process_time()  # CPU seconds: nothing heavy is loaded before the refusal
    with pytest.raises(ModelUnavailable, match="not available"):
        wan.load(str(broken), "org/wan-model", {}, torch.float32)
    assert time.process_time() - began < 5


def test_sizes_must_be_whole_patches():
    c = wan.tiny_components()
    wan.check_size(c, 832, 480)
    with pytest.raises(UsageError) as refused:
        wan.check_size(c, 850, 478)
    assert str(refused.value) == (
        "output.width: 850 does not fit model 'tiny-wan' (wan): width and height must be multiples of 16 pixels "
        "(nearest: 848 or 864); output.height: 478 does not fit model 'tiny-wan' (wan): width and height must be "
        "multiples of 16 pixels (nearest: 464 or 480)")


def test_schedulers_keep_the_models_flow_shift():
    c = wan.tiny_components()
    auto, euler = wan.scheduler(c, "auto"), wan.scheduler(c, "euler")
    assert type(auto).__name__ == "UniPCMultistepScheduler" and auto.config.flow_shift == 3.0
    assert type(euler).__name__ == "FlowMatchEulerDiscreteScheduler" and euler.config.shift == 3.0
    flow = dataclasses.replace(c, scheduler_config={"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 5.0})
    assert wan.scheduler(flow, "auto").config.flow_shift == 5.0 and wan.scheduler(flow, "auto").config.use_flow_sigmas
    with pytest.raises(UsageError, match="euler"):
        wan.scheduler(c, "ddim")
    noise = noise_for(c, frames=2)
    x = sample(lambda x, t, w: x * 0.1, euler, noise, [(0, 2)], steps=2)  # no init_noise_sigma, no scale_model_input
    assert x.shape == noise.shape and bool(torch.isfinite(x).all())
