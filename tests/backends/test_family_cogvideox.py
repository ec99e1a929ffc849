"""The ``cogvideox`` family on tiny random models: equal to the stock CogVideoXPipeline (2B, 5B, 1.5 structures,
DDIM and the DPM SDE solver), prompts along a window, streamed decoding, sizes, and a storyboard render."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("accelerate")

from helpers import probe, torch_peak_bytes, write  # noqa: E402

from storyboard.backends import registry  # noqa: E402
from storyboard.backends.diffusion.families import cogvideox as cog  # noqa: E402
from storyboard.backends.diffusion.loading import ModelUnavailable  # noqa: E402
from storyboard.backends.diffusion.prompts import PromptTable  # noqa: E402
from storyboard.backends.diffusion.sampler import sample  # noqa: E402
from storyboard.errors import UsageError  # noqa: E402
from storyboard.plan.data import FrameCond  # noqa: E402

PROMPT, NEGATIVE = "a red kite over a blue sea", "blurry, static"
FRAMES, SIZE = 17, 64  # 17 frames are 5 latent frames of 8 x 8 cells
LATENTS = cog.TIMING.latent_frames(FRAMES)
VARIANTS = {  # name: tiny_components arguments
    "5b": {},  # 3D RoPE, saved with 2B's DDIM scheduler
    "5b-dpm": {"scheduler_class": "CogVideoXDPMScheduler"},  # 5B's own scheduler: the DPM SDE solver
    "2b": {"use_rotary_positional_embeddings": False},  # sin-cos position embeddings
    "1.5": {"patch_size_t": 2, "scheduler_class": "CogVideoXDPMScheduler"},  # latent frames patched in pairs
}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Each variant of tiny-cogvideox written by the stock CogVideoXPipeline.save_pretrained."""
    return {name: cog.save_components(cog.tiny_components(**kw), tmp_path_factory.mktemp(name.replace(".", "")))
            for name, kw in VARIANTS.items()}


def noise_for(c, seed: int = 0, frames: int = LATENTS, size: int = SIZE) -> torch.Tensor:
    shape = (1, cog.latent_channels(c), frames, size // cog.spatial_factor(c), size // cog.spatial_factor(c))
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def table_of(c, prompts=(PROMPT,), negative=NEGATIVE) -> PromptTable:
    return PromptTable.of(cog.encode_prompts(c, list(prompts), "cpu"), cog.encode_prompts(c, [negative], "cpu"))


def stock_latents(folder, c, noise, steps: int, guidance: float, frames: int) -> torch.Tensor:
    """CogVideoXPipeline's latents ``[1, C, F, h, w]`` from ``noise`` (laid frames first, as it takes them)."""
    from diffusers import CogVideoXPipeline

    pipe = CogVideoXPipeline.from_pretrained(folder, dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    out = pipe(prompt=PROMPT, negative_prompt=NEGATIVE, height=SIZE, width=SIZE, num_frames=frames,
               num_inference_steps=steps, guidance_scale=guidance, latents=noise.permute(0, 2, 1, 3, 4).clone(),
               output_type="latent", max_sequence_length=c.text_length,
               generator=torch.Generator().manual_seed(cog.STEP_SEED))
    return out.frames.permute(0, 2, 1, 3, 4)


def our_latents(c, noise, steps: int, guidance: float, scheduler: str = "auto") -> torch.Tensor:
    conds = [FrameCond(0, 0, 0.0, 0) for _ in range(noise.shape[2])]
    den = cog.Denoiser(c, table_of(c), conds, guidance, torch.float32)
    with torch.no_grad():
        return sample(den, cog.scheduler(c, scheduler), noise, [(0, noise.shape[2])], steps=steps)


# --- the stock pipeline as reference ------------------------------------------------------------


@pytest.mark.parametrize("variant, frames", [("5b", 17), ("5b-dpm", 17), ("2b", 17), ("1.5", 21)])
def test_one_window_equals_the_stock_pipeline(saved, variant, frames):
    """One clip, float32, the same noise, 3 steps, guidance 6: the stock pipeline's latents to 1e-5.
    (1.5 at 21 frames: 6 latent frames, an even count the pipeline does not pad.)"""
    c = cog.load(str(saved[variant]), "tiny-cogvideox", {}, torch.float32)
    assert c.text_length == cog.TINY_TEXT_LENGTH and (c.patch[0] == 2) == (variant == "1.5")
    noise = noise_for(c, frames=cog.TIMING.latent_frames(frames))
    ours = our_latents(c, noise, steps=3, guidance=6.0)
    reference = stock_latents(saved[variant], c, noise, steps=3, guidance=6.0, frames=frames)
    assert ours.shape == reference.shape == noise.shape
    torch.testing.assert_close(ours, reference, rtol=0, atol=2e-5)
    assert float((ours - noise).abs().mean()) > 0.1  # it did denoise


def test_without_guidance_one_pass_equals_the_stock_pipeline(saved):
    c = cog.load(str(saved["5b"]), "tiny-cogvideox", {}, torch.float32)
    noise = noise_for(c, seed=3)
    calls = []
    c.transformer.register_forward_pre_hook(lambda module, args, kwargs: calls.append(kwargs["hidden_states"].shape[0]),
                                            with_kwargs=True)
    ours = our_latents(c, noise, steps=2, guidance=1.0)
    assert calls == [1, 1]  # no negative pass
    torch.testing.assert_close(ours, stock_latents(saved["5b"], c, noise, steps=2, guidance=1.0, frames=FRAMES),
                               rtol=0, atol=2e-5)


def test_the_dpm_solver_differs_from_ddim_and_draws_the_same_noise_each_shot(saved):
    c = cog.load(str(saved["5b-dpm"]), "tiny-cogvideox", {}, torch.float32)
    assert type(cog.scheduler(c, "auto")).__name__ == "DPMSolverStep"
    noise = noise_for(c, seed=1)
    dpm, again = our_latents(c, noise, 3, 6.0), our_latents(c, noise, 3, 6.0)
    ddim = our_latents(c, noise, 3, 6.0, scheduler="ddim")
    assert bool(torch.equal(dpm, again))  # the step noise is seeded per shot: renders are reproducible
    assert float((dpm - ddim).abs().max()) > 1e-2


def test_our_prompt_embeddings_are_the_pipelines(saved):
    from diffusers import CogVideoXPipeline

    c = cog.load(str(saved["5b"]), "tiny-cogvideox", {}, torch.float32)
    pipe = CogVideoXPipeline.from_pretrained(saved["5b"], dtype=torch.float32)
    theirs, negative = pipe.encode_prompt(PROMPT, NEGATIVE, max_sequence_length=c.text_length, device="cpu")
    encoded = cog.encode_prompts(c, [PROMPT, NEGATIVE], "cpu")
    torch.testing.assert_close(encoded.embeddings, torch.cat([theirs, negative]), rtol=0, atol=1e-5)
    assert encoded.embeddings.shape == (2, cog.TINY_TEXT_LENGTH, 32)
    assert encoded.masks[1].tolist() == [True] * 15 + [False]  # "blurry, static" and </s>: 15 byte tokens
    assert encoded.masks[0].all()  # the prompt fills (truncated to) all 16
    assert float(encoded.embeddings[1, -1].abs().sum()) > 0  # padding's states kept, as the pipeline keeps them


# --- prompts along a window ---------------------------------------------------------------------


def test_a_window_has_one_anchor_when_held_and_two_across_a_morph():
    g = torch.Generator().manual_seed(0)
    table = PromptTable(torch.randn(3, 4, 8, generator=g), torch.zeros(4, 8))
    anchors, place = cog.prompt_path(table, [FrameCond(1, 1, 0.0, 0)] * 5)
    assert anchors.shape == (1, 4, 8) and place is None and bool(torch.equal(anchors[0], table.prompts[1]))

    morph = [FrameCond(0, 1, w, 0) for w in (0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0)]  # hold, glide, hold
    anchors, place = cog.prompt_path(table, morph)
    assert bool(torch.equal(anchors[0], table.prompts[0])) and bool(torch.equal(anchors[1], table.prompts[1]))
    assert place[:2].tolist() == [0.0, 0.0] and place[-2:].tolist() == [1.0, 1.0]
    assert bool((place[1:] >= place[:-1]).all()) and 0.3 < float(place[3]) < 0.7  # slerp: about halfway at w 0.5

    there_and_back = [FrameCond(0, 2, w, 0) for w in (0.0, 0.5, 1.0)] + [FrameCond(2, 0, w, 0) for w in (0.5, 1.0)]
    anchors, place = cog.prompt_path(table, there_and_back)
    assert bool(torch.equal(anchors[1], table.prompts[2]))  # the farthest from the first frame
    torch.testing.assert_close(place, torch.tensor([0.0, place[1], 1.0, place[1], 0.0]))


def test_across_a_morph_each_latent_frame_moves_between_the_prompts_predictions():
    c = cog.tiny_components()
    table = table_of(c, prompts=("a red kite", "a green field"), negative="")
    x, t = noise_for(c), torch.tensor(800)
    glide = [FrameCond(0, 1, k / (LATENTS - 1), 0) for k in range(LATENTS)]
    held_a, held_b = [FrameCond(0, 0, 0.0, 0)] * LATENTS, [FrameCond(1, 1, 0.0, 0)] * LATENTS
    with torch.no_grad():
        a, b, morph = (cog.Denoiser(c, table, conds, 6.0, torch.float32)(x, t, (0, LATENTS))
                       for conds in (held_a, held_b, glide))
        pulsed = [dataclasses.replace(f, pulse=1.0) if k == 2 else f for k, f in enumerate(held_a)]
        p = cog.Denoiser(c, table, pulsed, 6.0, torch.float32)(x, t, (0, LATENTS))
    torch.testing.assert_close(morph[:, :, 0], a[:, :, 0], rtol=0, atol=1e-5)  # the first frame: prompt a's
    torch.testing.assert_close(morph[:, :, -1], b[:, :, -1], rtol=0, atol=1e-5)  # the last: prompt b's
    k = LATENTS // 2
    assert float((morph - a)[:, :, k].abs().max()) > 1e-3 and float((morph - b)[:, :, k].abs().max()) > 1e-3
    assert float((a - b).abs().max()) > 1e-3
    assert float((p - a)[:, :, 2].abs().max()) > 1e-4  # the pulsed latent frame is guided harder
    torch.testing.assert_close((p - a)[:, :, [0, 1, 3, 4]], torch.zeros_like(a[:, :, :4]), rtol=0, atol=1e-6)


def test_an_odd_window_of_1_5_is_padded_in_front_and_the_pad_dropped():
    """1.5 patches latent frames in pairs: 5 latent frames run as 6, the first a copy of frame 0."""
    c = cog.tiny_components(patch_size_t=2)
    table = table_of(c)
    x, t = noise_for(c, frames=5), torch.tensor(700)
    den = cog.Denoiser(c, table, [FrameCond(0, 0, 0.0, 0)] * 5, 1.0, torch.float32)
    with torch.no_grad():
        out = den(x, t, (0, 5))
        padded = torch.cat([x[:, :, :1], x], dim=2).permute(0, 2, 1, 3, 4)
        rope = cog.rotary_embedding(c, 6, 8, 8, "cpu")
        whole = c.transformer(hidden_states=padded, encoder_hidden_states=table.prompts[:1], timestep=t.expand(1),
                              image_rotary_emb=rope, return_dict=False)[0].permute(0, 2, 1, 3, 4)
    assert out.shape == x.shape
    torch.testing.assert_close(out, whole[:, :, 1:], rtol=0, atol=1e-6)


# --- decoding -----------------------------------------------------------------------------------


def test_streamed_decoding_equals_one_vae_decode():
    c = cog.tiny_components()
    latents = noise_for(c, seed=4, frames=5, size=32)
    with torch.no_grad():
        whole = c.vae.decode(latents / c.vae.config.scaling_factor).sample
    chunks = list(cog.decode_chunks(c, latents, "cpu"))
    assert [x.shape[2] for x in chunks] == [9, 8] and whole.shape[2] == cog.TIMING.decoded_frames(5) == 17
    torch.testing.assert_close(torch.cat(chunks, dim=2), whole.clamp(-1, 1), rtol=0, atol=1e-5)
    frames = list(cog.decode(c, latents, "cpu"))
    expected = ((whole / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)[0].permute(1, 2, 3, 0).numpy()
    assert len(frames) == 17 and frames[0].shape == (32, 32, 3) and frames[0].dtype.name == "uint8"
    assert max(int(abs(f.astype(int) - e.astype(int)).max()) for f, e in zip(frames, expected)) <= 1


def test_an_even_latent_count_decodes_to_the_causal_frame_count():
    """The VAE alone would decode 4 latent frames to 16 frames, the first latent frame as four; ours gives
    13, the first 9 those of the first three latent frames."""
    c = cog.tiny_components()
    latents = noise_for(c, seed=5, frames=4, size=32)
    with torch.no_grad():
        assert c.vae.decode(latents / c.vae.config.scaling_factor).sample.shape[2] == 16
        first = c.vae.decode(latents[:, :, :3] / c.vae.config.scaling_factor).sample.clamp(-1, 1)
    video = torch.cat(list(cog.decode_chunks(c, latents, "cpu")), dim=2)
    assert video.shape[2] == cog.TIMING.decoded_frames(4) == 13
    torch.testing.assert_close(video[:, :, :9], first, rtol=0, atol=1e-5)


def test_decoding_memory_is_flat_in_the_shots_length():
    """2.6x the latent frames, the same peak. Both lengths decode past the first range, with the
    convolution cache in play (3 latent frames alone would not hold one, and peak lower)."""
    c = cog.tiny_components()

    def streamed(latent_frames: int):
        latents = torch.randn(1, 4, latent_frames, 4, 4, generator=torch.Generator().manual_seed(0))
        return lambda: [None for _ in cog.decode(c, latents, "cpu")]  # 32 x 32 pixels

    short, long = torch_peak_bytes(streamed(5)), torch_peak_bytes(streamed(13))
    extra = (cog.TIMING.decoded_frames(13) - cog.TIMING.decoded_frames(5)) * 3 * 32 * 32 * 4  # as float32
    assert 0 < long <= 1.3 * short, f"peak {short / 2**20:.2f} MB for 5 latent frames, {long / 2**20:.2f} MB for 13"
    assert long - short < extra / 4


# --- time, sizes, schedulers, loading -----------------------------------------------------------


def test_time_is_8_fps_in_clips_of_13_latent_frames_and_16_fps_in_pairs_for_1_5():
    assert (cog.TIMING.native_fps, cog.TIMING.clip_frames, cog.TIMING.clip_latents) == (8, 49, 13)
    assert cog.timing(cog.tiny_components()) is cog.TIMING
    t15 = cog.timing(cog.tiny_components(patch_size_t=2))
    assert (t15.native_fps, t15.clip_latents, t15.clip_latents % 2, t15.decoded_frames(22)) == (16, 22, 0, 85)


def test_sizes_must_be_whole_patches_and_1_5_within_its_rope_table():
    c = cog.tiny_components()
    cog.check_size(c, 720, 480)
    with pytest.raises(UsageError) as refused:
        cog.check_size(c, 728, 480)
    assert str(refused.value) == ("output.width: 728 does not fit model 'tiny-cogvideox' (cogvideox): width and "
                                  "height must be multiples of 16 pixels (nearest: 720 or 736)")
    wide = cog.tiny_components(patch_size_t=2)  # a table of 6 x 4 patches: at most 96 x 64 pixels
    cog.check_size(wide, 96, 48)
    with pytest.raises(UsageError, match="output.width: 112 does not fit .* must be at most 96 pixels"):
        cog.check_size(wide, 112, 64)
    # CogVideoX1.5-5B's configs (sample 300 x 300 latent cells) and 5B's
    vae = {"block_out_channels": [128, 256, 256, 512]}
    assert registry.cogvideox_rule(vae, {"patch_size": 2, "patch_size_t": 2, "sample_width": 300,
                                         "sample_height": 300, "use_rotary_positional_embeddings": True}) == \
        registry.SizeRule(16, 16, 2400, 2400)
    assert registry.cogvideox_rule(vae, {"patch_size": 2, "sample_width": 90, "sample_height": 60,
                                         "use_rotary_positional_embeddings": True}) == registry.SizeRule(16, 16)


def test_validate_refuses_a_size_the_model_folder_cannot_render(tmp_path):
    """Torch-free: the size rule read from a saved folder's configs, as ``validate`` applies it."""
    from storyboard.backends.model_checks import model_problems

    folder = tmp_path / "cog15"
    (folder / "vae").mkdir(parents=True)
    (folder / "transformer").mkdir()
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "CogVideoXPipeline"}))
    (folder / "vae" / "config.json").write_text(json.dumps({"block_out_channels": [128, 256, 256, 512]}))
    (folder / "transformer" / "config.json").write_text(json.dumps(
        {"patch_size": 2, "patch_size_t": 2, "sample_width": 170, "sample_height": 96,
         "use_rotary_positional_embeddings": True}))
    assert model_problems(str(folder), 1360, 768) == []
    # plan and validate read 1.5's time from its DiT's config, as the loaded family does: 16 fps, 22 latent frames
    from storyboard.backends.sources import model_timing

    assert model_timing(str(folder)) == ("cogvideox", cog.TIMING_15)
    assert (cog.TIMING_15.native_fps, cog.TIMING_15.clip_latents) == (16, 22)
    (folder / "transformer" / "config.json").write_text(json.dumps({"patch_size": 2, "sample_width": 90}))
    assert model_timing(str(folder)) == ("cogvideox", cog.TIMING)
    (folder / "transformer" / "config.json").write_text(json.dumps(
        {"patch_size": 2, "patch_size_t": 2, "sample_width": 170, "sample_height": 96,
         "use_rotary_positional_embeddings": True}))
    assert [p.message for p in model_problems(str(folder), 1368, 784)] == [
        f"1368 does not fit model '{folder}' (cogvideox): width must be at most 1360 pixels (nearest: 1360)",
        f"784 does not fit model '{folder}' (cogvideox): height must be at most 768 pixels (nearest: 768)"]
    assert [p.message for p in model_problems("tiny-cogvideox", 72, 64)] == [
        "72 does not fit model 'tiny-cogvideox' (cogvideox): width and height must be multiples of 16 pixels "
        "(nearest: 64 or 80)"]
    assert registry.named_family("THUDM/CogVideoX1.5-5B") == "cogvideox"


def test_schedulers_are_the_models_own_or_named():
    c = cog.tiny_components()
    assert type(cog.scheduler(c, "auto")).__name__ == "CogVideoXDDIMScheduler"
    dpm = cog.scheduler(c, "dpm++")
    assert type(dpm.inner).__name__ == "CogVideoXDPMScheduler" and dpm.config.prediction_type == "v_prediction"
    assert dpm.init_noise_sigma == 1.0 and dpm.config.snr_shift_scale == 3.0
    with pytest.raises(UsageError, match="auto, ddim, dpm"):
        cog.scheduler(c, "euler")


def test_a_folder_without_its_transformer_is_unavailable_at_once(saved, tmp_path):
    broken = tmp_path / "no-transformer"
    source = saved["5b"]
    shutil.copytree(source, broken, ignore=lambda folder, names: ["transformer"] if folder == str(source) else [])
    began = time.process_time()
    with pytest.raises(ModelUnavailable, match="not available"):
        cog.load(str(broken), "org/cogvideox-model", {}, torch.float32)
    assert time.process_time() - began < 5


def test_an_image_to_video_model_is_refused_before_its_weights_load(saved, tmp_path):
    """Learned position embeddings (CogVideoX 5B I2V) fix the size and take an image: not driven here."""
    folder = tmp_path / "i2v"
    shutil.copytree(saved["5b"], folder)
    config = folder / "transformer" / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "use_learned_positional_embeddings": True}))
    (folder / "transformer" / "diffusion_pytorch_model.safetensors").unlink()  # proof: no weights are read
    with pytest.raises(UsageError, match="learned position embeddings"):
        cog.load(str(folder), "org/cogvideox-i2v", {}, torch.float32)


# --- a storyboard -------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_three_scene_storyboard_with_a_cut_and_a_morph_renders(tmp_path):
    from storyboard.cli import main

    script = write(tmp_path / "s.yaml", "output: {width: 64, height: 64, fps: 12}\nscenes:\n"
                   "  - {duration: 1s, prompts: a red room}\n"
                   "  - {duration: 1.5s, prompts: a blue sea, transition: cut}\n"
                   "  - {duration: 1s, prompts: a green field, transition: {type: morph, duration: 1s}}\n")
    out = tmp_path / "v.mp4"
    assert main(["render", str(script), "--model", "tiny-cogvideox", "--steps", "2", "-o", str(out), "-q"]) == 0
    p = probe(out)
    assert (p.frames, p.fps, p.width, p.height) == (42, 12, 64, 64)
