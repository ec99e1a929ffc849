"""The ``ltx`` family on the tiny random LTX-Video (CPU, seconds): our driver against the stock LTXPipeline."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from helpers import torch_peak_bytes  # noqa: E402

from storyboard.backends.diffusion.families import ltx  # noqa: E402
from storyboard.backends.diffusion.loading import ModelUnavailable, load_from  # noqa: E402
from storyboard.backends.diffusion.prompts import PromptTable  # noqa: E402
from storyboard.backends.diffusion.sampler import sample  # noqa: E402
from storyboard.errors import UsageError  # noqa: E402
from storyboard.plan.data import FrameCond  # noqa: E402

FRAMES, SIZE, LATENT = 17, 64, (3, 2, 2)  # 17 frames at 64x64 pixels: 3 latent frames of 2x2 cells


@pytest.fixture(scope="module")
def tiny():
    return ltx.tiny_components()


@pytest.fixture(scope="module")
def saved(tmp_path_factory, tiny):
    return ltx.save_components(tiny, tmp_path_factory.mktemp("tiny-ltx"))


def held(n: int, prompt: int = 0, pulse: float = 0.0) -> list[FrameCond]:
    return [FrameCond(prompt, prompt, 0.0, 0, pulse) for _ in range(n)]


def table_of(c, prompts: list[str], negative: str = "blurry") -> PromptTable:
    return PromptTable.of(ltx.encode_prompts(c, prompts, "cpu"), ltx.encode_prompts(c, [negative], "cpu"))


# --- 1. reference equivalence -----------------------------------------------------------------


def test_one_window_reproduces_the_stock_pipeline(saved):
    """Saved by LTXPipeline.save_pretrained, loaded by ours: same noise, prompt, negative, steps -> same latents."""
    from diffusers import LTXPipeline

    assert json.loads((saved / "model_index.json").read_text())["_class_name"] in ltx.PIPELINES
    c = ltx.load(str(saved), str(saved), {}, torch.float32)
    pipe = LTXPipeline.from_pretrained(saved)
    pipe.set_progress_bar_config(disable=True)
    noise = torch.randn(1, ltx.latent_channels(c), *LATENT, generator=torch.Generator().manual_seed(1))
    steps, captured = 3, {}

    def keep_latents(pipeline, i, t, kwargs):
        captured["latents"] = kwargs["latents"]
        return {}

    video = pipe(prompt="a red room", negative_prompt="blurry", height=SIZE, width=SIZE, num_frames=FRAMES,
                 frame_rate=24, num_inference_steps=steps, guidance_scale=3.0, latents=ltx.pack(noise, 1, 1),
                 output_type="np", max_sequence_length=c.max_sequence_length, callback_on_step_end=keep_latents).frames[0]
    reference = LTXPipeline._unpack_latents(captured["latents"], *LATENT, 1, 1)

    table = table_of(c, ["a red room"])
    denoiser = ltx.Denoiser(c, table, held(LATENT[0]), 3.0, torch.float32)
    scheduler = ltx.scheduler(c, "auto", latent_shape=LATENT)
    ours = sample(denoiser, scheduler, noise, [(0, LATENT[0])], steps=steps)
    torch.testing.assert_close(scheduler.timesteps, pipe.scheduler.timesteps, rtol=0, atol=0)
    diff = (ours - reference).abs().max().item()
    assert diff < 1e-4, f"latents differ from LTXPipeline's by {diff}"  # measured: 0.0

    pixels = np.stack(list(ltx.decode(c, ours, "cpu", torch.float32))).astype(np.float32) / 255
    assert pixels.shape == (FRAMES, SIZE, SIZE, 3)
    assert np.abs(pixels - video).max() <= 0.5 / 255 + 1e-4  # uint8 rounding of the pipeline's decode


def test_the_tokenizer_saves_and_reloads_with_autotokenizer(saved, tiny):
    from transformers import AutoTokenizer

    again = AutoTokenizer.from_pretrained(saved, subfolder="tokenizer")
    kwargs = dict(padding="max_length", max_length=16, truncation=True, add_special_tokens=True,
                  return_attention_mask=True, return_tensors="pt")
    a, b = tiny.tokenizer(["a red room é", "x"], **kwargs), again(["a red room é", "x"], **kwargs)
    assert torch.equal(a.input_ids, b.input_ids) and torch.equal(a.attention_mask, b.attention_mask)
    assert a.attention_mask[1].tolist() == [1, 1] + [0] * 14, "'x' then </s>, then padding"
    assert a.input_ids[1, 1] == 1 and a.input_ids[1, 2] == 0


def test_one_step_goes_from_noise_to_the_end_without_nan(tiny):
    """The stretch to shift_terminal divided by 1 - sigma of the last step, 0 with one step: a NaN
    sigma, black frames and a numpy RuntimeWarning in the render's output."""
    import warnings

    ours = ltx.scheduler(tiny, "auto", latent_shape=(3, 2, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours.set_timesteps(1, device="cpu")
    assert ours.sigmas.tolist() == [1.0, 0.0] and ours.timesteps.tolist() == [1000.0]
    latents = torch.ones(1, 8, 1, 2, 2)
    assert torch.equal(ours.step(torch.full_like(latents, 0.5), ours.timesteps[0], latents).prev_sample,
                       torch.full_like(latents, 0.5))  # x - 1 * v: the flow's prediction of the video
    two = ltx.scheduler(tiny, "auto", latent_shape=(3, 2, 2))
    two.set_timesteps(2, device="cpu")
    assert two.sigmas[1].item() == pytest.approx(0.1) and two.sigmas[2].item() == 0.0  # still stretched to 0.1


def test_the_scheduler_shifts_as_the_pipeline_for_the_tokens_of_a_window(tiny):
    from diffusers import FlowMatchEulerDiscreteScheduler
    from diffusers.pipelines.ltx.pipeline_ltx import calculate_shift

    config = tiny.scheduler_config
    for shape in [(3, 2, 2), (16, 16, 24), (8, 15, 22)]:
        tokens = shape[0] * shape[1] * shape[2]
        mu = calculate_shift(tokens, config["base_image_seq_len"], config["max_image_seq_len"],
                             config["base_shift"], config["max_shift"])
        assert ltx.calculate_shift(tokens, config) == pytest.approx(mu, abs=1e-12)
        stock = FlowMatchEulerDiscreteScheduler.from_config(config)
        stock.set_timesteps(sigmas=np.linspace(1.0, 1 / 20, 20), mu=mu)
        ours = ltx.scheduler(tiny, "auto", latent_shape=shape)
        ours.set_timesteps(20, device="cpu")
        assert torch.equal(ours.timesteps, stock.timesteps) and torch.equal(ours.sigmas, stock.sigmas)
    assert ours.init_noise_sigma == 1.0 and ours.scale_model_input(ours.sigmas, 0) is ours.sigmas
    c = ltx.Components(*(getattr(tiny, n) for n in ("tokenizer", "text_encoder", "transformer", "vae")),
                       tiny.scheduler_config, "sized")
    tokens = 16 * (512 // 32) * (768 // 32)  # no size checked yet: LTX-Video's 768x512
    assert ltx.scheduler(c, "auto").mu == pytest.approx(ltx.calculate_shift(tokens, config))
    ltx.check_size(c, 320, 192)  # the plan's size, once accepted, sets the shift
    assert ltx.scheduler(c, "euler").mu == pytest.approx(ltx.calculate_shift(16 * 6 * 10, config))
    with pytest.raises(UsageError, match="auto or euler"):
        ltx.scheduler(tiny, "ddim")


# --- 2. per-frame prompts ---------------------------------------------------------------------


def attn2_inputs(c, frames: int = 3, tokens: int = 4, seed: int = 0):
    """Video tokens ``[1, F * tokens, inner]``, projected texts ``[F, L, inner]`` and their bias ``[F, 1, L]``."""
    generator = torch.Generator().manual_seed(seed)
    inner = c.transformer.config.num_attention_heads * c.transformer.config.attention_head_dim
    hidden = torch.randn(1, frames * tokens, inner, generator=generator)
    encoded = ltx.encode_prompts(c, ["a red room", "the blue open sea at dawn", "x"][:frames], "cpu")
    projected = c.transformer.caption_projection(encoded.embeddings)
    bias = ((1 - encoded.masks.float()) * -10000.0).unsqueeze(1)
    return hidden, projected, bias


@torch.no_grad()
def test_per_frame_cross_attention_with_one_prompt_is_the_stock_processor(tiny):
    from diffusers.models.transformers.transformer_ltx import LTXVideoAttnProcessor

    attn = tiny.transformer.transformer_blocks[0].attn2
    hidden, projected, bias = attn2_inputs(tiny)
    stock = LTXVideoAttnProcessor()(attn, hidden, projected[:1], bias[:1])
    context = ltx.FrameContext(projected[:1].repeat(3, 1, 1), bias[:1].repeat(3, 1, 1), 3)
    ours = ltx.PerFrameCrossAttention(context)(attn, hidden, projected[:1], bias[:1])
    diff = (ours - stock).abs().max().item()
    assert diff < 1e-5, diff  # measured: ~1e-7
    context.embeddings = None
    assert torch.equal(ltx.PerFrameCrossAttention(context)(attn, hidden, projected[:1], bias[:1]), stock)


@torch.no_grad()
def test_each_latent_frame_attends_to_its_own_prompt(tiny):
    from diffusers.models.transformers.transformer_ltx import LTXVideoAttnProcessor

    attn = tiny.transformer.transformer_blocks[1].attn2
    hidden, projected, bias = attn2_inputs(tiny)
    ours = ltx.PerFrameCrossAttention(ltx.FrameContext(projected, bias, 3))(attn, hidden)
    tokens = hidden.shape[1] // 3
    for k in range(3):
        stock_k = LTXVideoAttnProcessor()(attn, hidden, projected[k:k + 1], bias[k:k + 1])
        frame = slice(k * tokens, (k + 1) * tokens)
        torch.testing.assert_close(ours[:, frame], stock_k[:, frame], rtol=1e-5, atol=1e-6)
    stock_0 = LTXVideoAttnProcessor()(attn, hidden, projected[:1], bias[:1])
    assert (ours[:, tokens:] - stock_0[:, tokens:]).abs().max() > 1e-3, "other prompts, other outputs"


@torch.no_grad()
def test_in_a_one_block_model_frame_k_matches_a_stock_run_on_prompt_k(tiny):
    """With one block, frame k's output tokens depend on the text only through attn2: the stock run on prompt k
    gives the same tokens for frame k as our run with a prompt per frame."""
    from diffusers import LTXVideoTransformer3DModel

    one = LTXVideoTransformer3DModel(**{**ltx.TINY_TRANSFORMER, "num_layers": 1}).eval()
    c = ltx.Components(tiny.tokenizer, tiny.text_encoder, one, tiny.vae, tiny.scheduler_config, "one-block",
                       max_sequence_length=tiny.max_sequence_length)
    table = table_of(c, ["a red room", "the blue open sea at dawn", "x"])
    conds = [FrameCond(k, k, 0.0, 0) for k in range(3)]
    denoiser = ltx.Denoiser(c, table, conds, 1.0, torch.float32)
    x, t = torch.randn(1, 8, 3, 2, 2, generator=torch.Generator().manual_seed(2)), torch.tensor(700.0)
    ours = denoiser(x, t, (0, 3))
    for k in range(3):
        stock_k = ltx.Denoiser(c, table, [conds[k]] * 3, 1.0, torch.float32)(x, t, (0, 3))
        torch.testing.assert_close(ours[:, :, k], stock_k[:, :, k], rtol=1e-5, atol=1e-5)
    assert (ours[:, :, 1] - ltx.Denoiser(c, table, [conds[0]] * 3, 1.0, torch.float32)(x, t, (0, 3))[:, :, 1]).abs().max() > 1e-3


@torch.no_grad()
def test_forced_per_frame_path_with_one_prompt_equals_the_stock_path(tiny):
    table = table_of(tiny, ["a red room"])
    denoiser = ltx.Denoiser(tiny, table, held(3), 3.0, torch.float32)
    x, t = torch.randn(2, 8, 3, 2, 2, generator=torch.Generator().manual_seed(4)), torch.tensor(500.0)
    embeddings, masks = denoiser.text(held(3), True)
    embeddings, masks = embeddings.repeat_interleave(2, 0), masks.repeat_interleave(2, 0)
    stock = denoiser.predict(x.repeat(2, 1, 1, 1, 1), t, embeddings, masks, uniform=True)
    per_frame = denoiser.predict(x.repeat(2, 1, 1, 1, 1), t, embeddings, masks, uniform=False)
    assert (per_frame - stock).abs().max().item() < 1e-5  # measured: ~1e-7


def test_masks_travel_with_the_encodings_and_a_glide_uses_the_union(tiny):
    texts = ["a", "a much longer prompt about the sea"]
    encoded = ltx.encode_prompts(tiny, texts, "cpu")
    masks = encoded.masks
    table = PromptTable.of(encoded, ltx.encode_prompts(tiny, ["blurry"], "cpu"), torch.bfloat16)
    assert table.prompts.dtype == torch.bfloat16 and torch.equal(table.prompt_masks, masks)
    assert masks[0].sum() == 2 and masks[1].sum() > 10  # "a" and </s>; the longer prompt's bytes
    assert table.negative_mask.sum() == len("blurry") + 1
    assert torch.equal(table.frame_mask(FrameCond(0, 1, 0.0, 0)), masks[0])
    assert torch.equal(table.frame_mask(FrameCond(0, 1, 1.0, 0)), masks[1])
    assert torch.equal(table.frame_mask(FrameCond(0, 1, 0.4, 0)), masks[0] | masks[1])
    without = PromptTable(table.prompts, table.negative)
    with pytest.raises(ValueError, match="attention masks"):
        ltx.Denoiser(tiny, without, [FrameCond(0, 0, 0.0, 0)], 3.0, torch.float32)


@torch.no_grad()
def test_rope_positions_are_the_windows_own_and_a_pulse_raises_guidance(tiny):
    table = table_of(tiny, ["a red room"])
    conds = held(6)
    conds[4] = FrameCond(0, 0, 0.0, 0, 1.0)
    denoiser = ltx.Denoiser(tiny, table, conds, 3.0, torch.float32)
    x, t = torch.randn(1, 8, 3, 2, 2, generator=torch.Generator().manual_seed(5)), torch.tensor(800.0)
    first, later = denoiser(x, t, (0, 3)), denoiser(x, t, (3, 6))
    torch.testing.assert_close(later[:, :, 0], first[:, :, 0], rtol=0, atol=0)  # no pulse: same window, same answer
    assert (later[:, :, 1] - first[:, :, 1]).abs().max() > 1e-4, "the pulsed latent frame is guided harder"
    assert denoiser.calls == 2


def test_a_tiny_render_takes_seconds(tiny):
    """17 frames at 64x64, 2 steps: prompts, sampling and decoding (CPU seconds, every thread's: a busy
    machine slows the wall clock, not the work)."""
    began = time.process_time()
    table = table_of(tiny, ["a red room"])
    noise = torch.randn(1, 8, *LATENT, generator=torch.Generator().manual_seed(6))
    latents = sample(ltx.Denoiser(tiny, table, held(3), 3.0, torch.float32),
                     ltx.scheduler(tiny, "auto", latent_shape=LATENT), noise, [(0, 3)], steps=2)
    frames = list(ltx.decode(tiny, latents, "cpu", torch.float32))
    elapsed = time.process_time() - began
    assert len(frames) == ltx.timing(tiny).decoded_frames(3) == FRAMES
    assert frames[0].shape == (SIZE, SIZE, 3) and frames[0].dtype == np.uint8
    assert elapsed < 20, f"{elapsed:.1f} CPU s"


# --- 3. decoding in chunks ----------------------------------------------------------------------


def decode_all(c, latents, chunk: int, overlap: int) -> np.ndarray:
    c.decode_chunk, c.decode_overlap = chunk, overlap
    try:
        return np.stack(list(ltx.decode(c, latents, "cpu", torch.float32))).astype(np.float32)
    finally:
        c.decode_chunk, c.decode_overlap = ltx.Components.decode_chunk, ltx.Components.decode_overlap


def test_chunks_that_overlap_past_the_decoders_reach_equal_a_one_shot_decode(tiny):
    latents = torch.randn(1, 8, 30, 2, 2, generator=torch.Generator().manual_seed(3))
    whole = decode_all(tiny, latents, 1000, 1)
    assert len(whole) == ltx.timing(tiny).decoded_frames(30)
    chunked = decode_all(tiny, latents, 16, 12)  # blended frames have >= 3 latent frames of context each side
    assert np.abs(chunked - whole).max() <= 1.0  # measured: 1 (uint8 rounding)


@torch.no_grad()
def test_decode_noise_is_the_same_in_every_chunk(tiny):
    """A decoder that injects noise (LTX-Video 0.9.1+) and decode-timestep noise: chunks draw the same."""
    from diffusers import AutoencoderKLLTXVideo

    torch.manual_seed(1)
    noisy = dict(decoder_layers_per_block=(1, 0, 0, 0, 0), decoder_inject_noise=(True, False, False, False, False))
    vae = AutoencoderKLLTXVideo(**{**ltx.TINY_VAE, **noisy}).eval()  # a resnet that injects noise, last block
    for name, parameter in vae.named_parameters():
        if "per_channel_scale" in name:
            parameter.normal_(0, 0.5)
    c = ltx.Components(tiny.tokenizer, tiny.text_encoder, tiny.transformer, vae, tiny.scheduler_config, "noisy",
                       decode_timestep=0.05, decode_noise_scale=0.025)
    latents = torch.randn(1, 8, 30, 2, 2, generator=torch.Generator().manual_seed(3))
    whole = decode_all(c, latents, 1000, 1)
    assert np.array_equal(whole, decode_all(c, latents, 1000, 1)), "seeded: the same frames every time"
    z = latents[:, :, :3]
    assert (vae.decode(z, torch.tensor([0.05])).sample - vae.decode(z, torch.tensor([0.05])).sample).abs().max() > 0.01
    assert np.abs(decode_all(c, latents, 16, 12) - whole).max() <= 1.0


def test_default_chunks_leave_no_seam(tiny):
    """Frame-to-frame change where chunks join is no larger than inside a chunk."""
    latents = torch.randn(1, 8, 30, 2, 2, generator=torch.Generator().manual_seed(7))
    whole = decode_all(tiny, latents, 1000, 1)
    chunked = decode_all(tiny, latents, tiny.decode_chunk, tiny.decode_overlap)
    steps_whole = np.abs(np.diff(whole, axis=0)).mean(axis=(1, 2, 3))
    steps_chunked = np.abs(np.diff(chunked, axis=0)).mean(axis=(1, 2, 3))
    assert (steps_chunked / steps_whole).max() < 1.1  # measured: 1.00
    assert np.abs(chunked - whole).mean() < 3.0  # measured: ~1.5 of 255 (random weights, short reach)


def test_decode_memory_is_flat_in_the_shots_length(tiny):
    """12 latent frames (2 chunks of 8, 89 frames) against 48 (11 chunks, 377 frames), at 128x128 pixels."""
    def decode(latent_frames: int):
        latents = torch.randn(1, 8, latent_frames, 4, 4, generator=torch.Generator().manual_seed(8))
        return lambda: sum(1 for _ in ltx.decode(tiny, latents, "cpu", torch.float32))

    tiny.decode_chunk, tiny.decode_overlap = 8, 4
    try:
        decode(12)()  # warm up
        short, long = torch_peak_bytes(decode(12)), torch_peak_bytes(decode(48))
    finally:
        tiny.decode_chunk, tiny.decode_overlap = ltx.Components.decode_chunk, ltx.Components.decode_overlap
    assert long < 1.3 * short, f"{short / 2**20:.1f} MiB for 89 frames, {long / 2**20:.1f} MiB for 377"


# --- 4. errors ------------------------------------------------------------------------------------


def test_a_folder_without_a_component_is_unavailable_quickly(saved, tmp_path):
    import shutil

    partial = tmp_path / "partial"
    shutil.copytree(saved, partial)
    shutil.rmtree(partial / "transformer")
    began = time.process_time()  # CPU seconds: nothing heavy is loaded before the refusal
    with pytest.raises(ModelUnavailable, match="transformer/"):
        load_from(str(partial), None, ltx.COMPONENTS, lambda source, kw: ltx.load(source, str(partial), kw, None))
    (partial / "transformer").mkdir()  # present but empty: diffusers' own error, reworded
    with pytest.raises(ModelUnavailable, match="not available"):
        ltx.load(str(partial), str(partial), {}, None)
    assert time.process_time() - began < 5


def test_sizes_must_be_multiples_of_32(tiny):
    ltx.check_size(tiny, 768, 512)
    ltx.check_size(tiny, 64, 32)
    with pytest.raises(UsageError) as refused:
        ltx.check_size(tiny, 100, 70)
    assert str(refused.value) == (
        "output.width: 100 does not fit model 'tiny-ltx' (ltx): width and height must be multiples of 32 pixels "
        "(nearest: 96 or 128); output.height: 70 does not fit model 'tiny-ltx' (ltx): width and height must be "
        "multiples of 32 pixels (nearest: 64 or 96)")
    assert ltx.spatial_factor(tiny) == 32 and ltx.latent_channels(tiny) == 8


def test_timing_is_read_from_the_vae(tiny):
    assert ltx.timing(tiny) == ltx.TIMING
    assert ltx.TIMING.clip_latents == 16 and ltx.TIMING.decoded_frames(3) == 17
