"""The ``skyreels`` family (SkyReels-V2 diffusion forcing) on tiny random models: the rollout equals the
stock SkyReelsV2DiffusionForcingPipeline over several chunks, the forcing schedule, per-frame prompts,
streamed decoding, sizes and a storyboard rendered end to end."""

from __future__ import annotations

import dataclasses
import shutil
import time

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("accelerate")
pytest.importorskip("ftfy")  # the stock pipeline cleans prompts with it

from helpers import probe, write  # noqa: E402

from storyboard.backends import registry  # noqa: E402
from storyboard.backends import forcing  # noqa: E402
from storyboard.backends.diffusion.families import skyreels  # noqa: E402
from storyboard.backends.diffusion.loading import ModelUnavailable  # noqa: E402
from storyboard.backends.diffusion.prompts import PromptTable  # noqa: E402
from storyboard.backends.model_checks import model_problems  # noqa: E402
from storyboard.backends.latents import LatentShot  # noqa: E402
from storyboard.errors import UsageError  # noqa: E402
from storyboard.plan.data import FrameCond  # noqa: E402
from storyboard.plan.windows import windows_for  # noqa: E402

PROMPT = "a  red kite &amp; a   blue sky "  # the pipeline cleans entities and whitespace; so must we
NEGATIVE = "blurry, static"
SIZE = 64  # pixels: 8 x 8 latent cells, 4 x 4 patches


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """tiny-skyreels written by the stock SkyReelsV2DiffusionForcingPipeline.save_pretrained."""
    return skyreels.save_components(skyreels.tiny_components(), tmp_path_factory.mktemp("tiny-skyreels"))


@pytest.fixture(scope="module")
def loaded(saved):
    return skyreels.load(str(saved), "tiny-skyreels", {}, torch.float32)


def frames_of(latents: int) -> int:
    return skyreels.TIMING.decoded_frames(latents)


def stock_run(folder, c, *, seed: int, num_frames: int, base_num_frames: int, overlap_history: int, steps: int,
              history_noise_seed: int | None = None, **call) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The stock pipeline's latents, and the noise it drew for each window (replayed from its generator).

    With ``history_noise_seed``, the fresh noise it adds to the history at each call
    (``torch.randn_like``) is drawn from a generator of that seed instead of torch's global one.
    """
    from diffusers import SkyReelsV2DiffusionForcingPipeline

    pipe = SkyReelsV2DiffusionForcingPipeline.from_pretrained(folder, dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    drawn: list[torch.Tensor] = []
    stock_randn = torch.randn

    def recording_randn(*args, **kwargs):  # randn_tensor draws each window's noise with the generator
        out = stock_randn(*args, **kwargs)
        if kwargs.get("generator") is not None:
            drawn.append(out.clone())
        return out

    history = torch.Generator().manual_seed(history_noise_seed or 0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch, "randn", recording_randn)
        if history_noise_seed is not None:
            patch.setattr(torch, "randn_like", lambda x: stock_randn(x.shape, generator=history, dtype=x.dtype))
        out = pipe(prompt=PROMPT, negative_prompt=NEGATIVE, height=SIZE, width=SIZE, num_frames=num_frames,
                   num_inference_steps=steps, generator=torch.Generator().manual_seed(seed), output_type="latent",
                   max_sequence_length=c.text_length, base_num_frames=base_num_frames,
                   overlap_history=overlap_history, fps=24, **call)
    return out.frames, drawn


def shot_noise_from(drawn: list[torch.Tensor], history: int) -> torch.Tensor:
    """A shot's noise as the stock pipeline used it: each window's draw, less the frames its history overwrote."""
    return torch.cat([drawn[0]] + [d[:, :, history:] for d in drawn[1:]], dim=2)


def our_rollout(c, noise, windows, steps: int, conds=None, guidance: float = 5.0, prompts=(PROMPT,), **rollout):
    table = PromptTable.of(skyreels.encode_prompts(c, list(prompts), "cpu"),
                           skyreels.encode_prompts(c, [NEGATIVE], "cpu"))
    frames = noise.shape[2]
    conds = conds or [FrameCond(0, 0, 0.0, 0)] * frames
    den = skyreels.Denoiser(c, table, conds, guidance, torch.float32)
    mapped = LatentShot(frames_of(frames), frames, tuple(range(frames_of(frames))), tuple(conds), tuple(windows))
    seen: list[tuple[int, int]] = []
    with torch.no_grad():
        out = skyreels.rollout(c, den, skyreels.scheduler(c, "auto"), noise, mapped, steps,
                               on_step=lambda done, total: seen.append((done, total)), **rollout)
    return out, den, seen


# --- the stock pipeline as reference ------------------------------------------------------------


def test_the_rollout_equals_the_stock_pipeline_over_three_chunks(saved, loaded):
    """Synchronous, clean history: 41 frames (11 latent) in windows of 17 (5) with 5 frames (2) of history."""
    c = dataclasses.replace(loaded, forcing=forcing.Forcing(addnoise_condition=0))
    reference, drawn = stock_run(saved, c, seed=3, num_frames=41, base_num_frames=17, overlap_history=5, steps=3,
                                 guidance_scale=5.0)
    assert [d.shape[2] for d in drawn] == [5, 5, 5]
    noise = shot_noise_from(drawn, 2)
    windows = windows_for(0, 11, 5, 2)
    assert windows == ((0, 5), (3, 8), (6, 11))
    ours, den, seen = our_rollout(c, noise, windows, steps=3)
    assert ours.shape == reference.shape == noise.shape == (1, 16, 11, 8, 8)
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-5)
    assert den.calls == 3 * 3 * 2 and seen[-1] == (9, 9) and [d for d, _ in seen] == list(range(1, 10))
    assert float((ours - noise).abs().mean()) > 0.1  # it did denoise
    # the history is what the chunk before made: a rollout of the first window alone ends the same
    alone, _, _ = our_rollout(c, noise[:, :, :5], [(0, 5)], steps=3)
    torch.testing.assert_close(ours[:, :, :5], alone, rtol=0, atol=1e-6)


def test_history_noise_and_asynchronous_blocks_equal_the_stock_pipeline(saved, loaded):
    """ar_step 1 over causal blocks of 2 latent frames, history re-noised at 20: 37 frames (10 latent)
    in windows of 21 (6) with 5 frames (2) of history."""
    c = dataclasses.replace(loaded, forcing=forcing.Forcing(ar_step=1, causal_block_size=2, addnoise_condition=20))
    assert c.transformer.config.num_frame_per_block == 1
    reference, drawn = stock_run(saved, c, seed=5, num_frames=37, base_num_frames=21, overlap_history=5, steps=3,
                                 history_noise_seed=11, guidance_scale=4.0, ar_step=1, causal_block_size=2,
                                 addnoise_condition=20)
    noise = shot_noise_from(drawn, 2)
    ours, den, seen = our_rollout(c, noise, windows_for(0, 10, 6, 2), steps=3, guidance=4.0,
                                  generator=torch.Generator().manual_seed(11))
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-5)
    assert c.transformer.config.num_frame_per_block == 1  # the block-causal mask was ours for the rollout only
    assert seen[-1] == (5 + 4, 9)  # 3 blocks: 3 + 2 calls; then 2 new blocks after a block of history: 3 + 1
    clean = dataclasses.replace(c, forcing=dataclasses.replace(c.forcing, addnoise_condition=0))
    plain, _, _ = our_rollout(clean, noise, windows_for(0, 10, 6, 2), steps=3, guidance=4.0)
    torch.testing.assert_close(plain[:, :, :6], ours[:, :, :6], rtol=0, atol=1e-6)  # the first chunk has no history
    assert float((plain[:, :, 6:] - ours[:, :, 6:]).abs().max()) > 1e-4  # the re-noised history tells


def test_our_prompt_embeddings_are_the_pipelines(saved, loaded):
    from diffusers import SkyReelsV2DiffusionForcingPipeline

    pipe = SkyReelsV2DiffusionForcingPipeline.from_pretrained(saved, dtype=torch.float32)
    theirs, negative = pipe.encode_prompt(PROMPT, NEGATIVE, max_sequence_length=loaded.text_length, device="cpu")
    encoded = skyreels.encode_prompts(loaded, [PROMPT, NEGATIVE], "cpu")
    torch.testing.assert_close(encoded.embeddings, torch.cat([theirs, negative]), rtol=0, atol=1e-5)
    tokens = len(loaded.tokenizer("a red kite & a blue sky").input_ids)
    assert encoded.masks[0].tolist() == [True] * tokens + [False] * (loaded.text_length - tokens)


# --- the forcing schedule and the chunks -------------------------------------------------------


def test_synchronous_rows_keep_all_new_frames_at_one_level():
    rows = forcing.forcing_rows(5, 4, history=2)
    assert [r.levels for r in rows] == [(5, 5, k, k, k) for k in range(1, 5)]
    assert all(r.update == (False, False, True, True, True) for r in rows)


def test_asynchronous_rows_stagger_blocks_and_never_decrease_along_the_chunk():
    rows = forcing.forcing_rows(6, 3, history=2, ar_step=1, block=2)
    assert [r.levels for r in rows] == [(4, 4, 1, 1, 0, 0), (4, 4, 2, 2, 1, 1), (4, 4, 3, 3, 2, 2), (4, 4, 4, 4, 3, 3)]
    assert [r.update for r in rows][0] == (False, False, True, True, False, False)
    for steps, ar_step, block, frames, history in ((30, 5, 5, 25, 0), (30, 5, 5, 25, 5), (10, 2, 1, 7, 3)):
        rows = forcing.forcing_rows(frames, steps, history=history, ar_step=ar_step, block=block)
        new_blocks = (frames - history) // block
        assert len(rows) == steps + ar_step * (new_blocks - 1)
        assert all(list(r.levels) == sorted(r.levels, reverse=True) for r in rows)  # diffusion forcing's order
        updates = [sum(r.update[k] for r in rows) for k in range(frames)]
        assert updates == [0] * history + [steps] * (frames - history)  # each new frame takes every step once
    with pytest.raises(ValueError, match="whole blocks of 5"):
        forcing.forcing_rows(24, 30, block=5)


def test_chunks_carry_the_windows_overlap_as_history():
    windows = windows_for(0, 251, 25, 4)  # a 1,000-frame shot at 24 fps: 251 latent frames
    chunks = forcing.chunks_for(windows)
    assert len(chunks) == 12 and chunks[0] == forcing.Chunk(0, 25, 0)
    assert {c.history for c in chunks[1:-1]} == {4} and chunks[-1] == forcing.Chunk(226, 251, 9)
    assert sum(c.new for c in chunks) == 251
    blocks = forcing.chunks_for(windows, block=5)  # history rounded up to 5, the shot's end to 255
    assert blocks[0] == forcing.Chunk(0, 25, 0) and blocks[1] == forcing.Chunk(20, 45, 5)
    assert blocks[-1].end == 255 and all((c.end - c.start) % 5 == 0 == c.history % 5 for c in blocks)
    assert forcing.chunks_for(((0, 7),), block=2) == (forcing.Chunk(0, 8, 0),)


def test_what_plan_says_of_a_shots_chunks():
    windows = windows_for(0, 251, 25, 4)
    assert forcing.describe_chunks(windows, 30) == (
        "12 chunks of 25 latent frames, each after the first with 4 of history (the last 9); 360 denoiser calls "
        "at 30 steps")
    assert forcing.describe_chunks(((0, 13),), 30) == "1 chunk of 13 latent frames; 30 denoiser calls at 30 steps"
    assert forcing.describe_chunks(windows, 30, forcing.Forcing(ar_step=5), block=5) == (
        "13 chunks of 25 latent frames, each after the first with 5 of history (the last 15); 580 denoiser calls "
        "at 30 steps (asynchronous: ar_step 5, blocks of 5)")


def test_evaluations_per_output_frame_for_a_thousand_frames():
    """12 chunks of 25 latent frames per step for 1,000 frames with 4 of history; asynchronous
    (ar_step 5, blocks of 5) takes more calls: 30 steps + 5 per extra new block."""
    assert skyreels.evaluations_per_output_frame(1000, overlap=4, steps=30) == pytest.approx(0.3)
    assert skyreels.evaluations_per_output_frame(1000, overlap=5, steps=30) == pytest.approx(0.325)
    slow = skyreels.evaluations_per_output_frame(1000, overlap=5, steps=30, forcing=forcing.Forcing(ar_step=5),
                                                 block=5)
    assert slow == pytest.approx(0.48333, abs=1e-4)


def test_the_history_carries_the_content_into_the_next_chunk():
    """A known answer: clips whose frames share one content ``c ~ N(0, 1)`` per pixel (plus a known motion),
    denoised exactly given each frame's noise level. Chunks with clean history keep the first chunk's
    content to the end of the shot; chunks sampled on their own (no history) each draw their own."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    def motion(s, e):
        return 0.5 * torch.sin(torch.arange(s, e, dtype=torch.float64) / 5.0).view(1, 1, -1, 1, 1)

    def exact(x, t, window):  # the posterior mean of c, frames weighted by their precision a^2 / b^2
        sigma = t.double().reshape(1, 1, -1, 1, 1) / 1000
        a, b = 1 - sigma, sigma.clamp_min(1e-6)
        g = motion(*window)
        c = (a / b ** 2 * (x.double() - a * g)).sum(2, keepdim=True) / (1 + (a ** 2 / b ** 2).sum(2, keepdim=True))
        return ((x.double() - a * (c + g)) / b - (c + g)).float()

    noise = torch.randn(1, 2, 40, 3, 3, generator=torch.Generator().manual_seed(0))
    windows = windows_for(0, 40, 10, 3)
    clean = forcing.Forcing(addnoise_condition=0)
    made = skyreels.forcing_sample(exact, FlowMatchEulerDiscreteScheduler(shift=3.0), noise, windows, steps=8,
                                   forcing=clean)
    alone = torch.cat([skyreels.forcing_sample(lambda x, t, w, s=s: exact(x, t, (w[0] + s, w[1] + s)),
                                               FlowMatchEulerDiscreteScheduler(shift=3.0), noise[:, :, s:s + 10],
                                               [(0, 10)], steps=8, forcing=clean) for s in range(0, 40, 10)], dim=2)
    content = (made - motion(0, 40)).float()
    assert float((content - content[:, :, :1]).abs().max()) < 1e-3  # one content, first frame to last
    own = (alone - motion(0, 40)).float()
    assert float((own[:, :, 30] - own[:, :, 0]).abs().mean()) > 0.5  # a clip on its own draws another


def test_a_padded_block_past_the_shots_end_is_dropped(loaded):
    c = dataclasses.replace(loaded, forcing=forcing.Forcing(causal_block_size=2, addnoise_condition=0))
    noise = torch.randn(1, 16, 7, 4, 4, generator=torch.Generator().manual_seed(2))
    out, den, seen = our_rollout(c, noise, [(0, 7)], steps=2)
    assert out.shape == noise.shape and den.calls == 2 * 2 and len(den.conds) == 7
    assert c.transformer.config.num_frame_per_block == 1


# --- per-frame prompts and pulses ---------------------------------------------------------------


def test_per_frame_prompts_in_the_whole_transformer():
    """One block: frame k's output is a stock run's with prompt k (self-attention comes before the text)."""
    c = skyreels.tiny_components(num_layers=1)
    g = torch.Generator().manual_seed(5)
    x = torch.randn(1, 16, 3, 8, 8, generator=g)
    texts = torch.randn(2, 1, c.text_length, c.transformer.config.text_dim, generator=g)
    t = torch.tensor([[700, 500, 300]])  # a timestep per latent frame

    def run(text, index=None, slots=1):
        c.slots.index, c.slots.slots = index, slots
        try:
            with torch.no_grad():
                return c.transformer(hidden_states=x, timestep=t, encoder_hidden_states=text, fps=[1],
                                     enable_diffusion_forcing=True, return_dict=False)[0]
        finally:
            c.slots.index = None

    stock = [run(texts[0]), run(texts[1])]
    torch.testing.assert_close(run(texts[0], torch.zeros(3, dtype=torch.long)), stock[0], rtol=0, atol=1e-5)
    mixed = run(torch.cat(list(texts), dim=1), torch.tensor([1, 0, 1]), 2)
    for frame, prompt in enumerate([1, 0, 1]):
        torch.testing.assert_close(mixed[:, :, frame], stock[prompt][:, :, frame], rtol=0, atol=1e-5)
    assert float((mixed - stock[0]).abs().max()) > 1e-3


def test_a_morph_glides_per_latent_frame_and_a_pulse_guides_its_frame_harder(loaded):
    c = loaded
    table = PromptTable.of(skyreels.encode_prompts(c, ["a red kite", "a green field"], "cpu"),
                           skyreels.encode_prompts(c, [""], "cpu"))
    x = torch.randn(1, 16, 5, 8, 8, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([900, 900, 800, 800, 700])
    held = [FrameCond(0, 0, 0.0, 0)] * 5
    glide = [FrameCond(0, 1, k / 4, 0) for k in range(5)]
    pulsed = [dataclasses.replace(f, pulse=1.0) if k == 2 else f for k, f in enumerate(held)]
    with torch.no_grad():
        a, b, p = (skyreels.Denoiser(c, table, conds, 5.0, torch.float32)(x, t, (0, 5))
                   for conds in (held, glide, pulsed))
    assert a.shape == x.shape and float((a - b).abs().max()) > 1e-4
    assert float((p - a)[:, :, 2].abs().max()) > 1e-4  # the pulsed frame is guided harder
    torch.testing.assert_close(torch.cat([p[:, :, :2], p[:, :, 3:]], 2), torch.cat([a[:, :, :2], a[:, :, 3:]], 2),
                               rtol=0, atol=1e-6)  # and no other


# --- decoding, loading, sizes, schedulers ------------------------------------------------------


def test_decoding_streams_every_native_frame(loaded):
    latents = torch.randn(1, 16, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    frames = list(skyreels.decode(loaded, latents, "cpu"))
    assert len(frames) == frames_of(3) == 9 and frames[0].shape == (32, 32, 3) and frames[0].dtype.name == "uint8"


def test_a_folder_without_its_transformer_is_unavailable_at_once(saved, tmp_path):
    broken = tmp_path / "no-transformer"
    shutil.copytree(saved, broken, ignore=lambda folder, names: ["transformer"] if folder == str(saved) else [])
    began = time.process_time()
    with pytest.raises(ModelUnavailable, match="not available"):
        skyreels.load(str(broken), "Skywork/SkyReels-V2-DF-1.3B-540P-Diffusers", {}, torch.float32)
    assert time.process_time() - began < 5


def test_sizes_schedulers_and_the_registry(loaded):
    skyreels.check_size(loaded, 960, 544)
    with pytest.raises(UsageError) as refused:
        skyreels.check_size(loaded, 970, 544)
    assert str(refused.value) == ("output.width: 970 does not fit model 'tiny-skyreels' (skyreels): width and height "
                                  "must be multiples of 16 pixels (nearest: 960 or 976)")
    assert skyreels.size_rule(loaded) == registry.FAMILIES["skyreels"].tiny_rule  # the table is the configs'
    [problem] = model_problems("tiny-skyreels", 970, 544)  # validate's words, before torch loads
    assert "output.width: " + problem.message == str(refused.value)
    assert registry.named_family("Skywork/SkyReels-V2-DF-14B-720P-Diffusers") == "skyreels"
    assert registry.pipeline_family("SkyReelsV2DiffusionForcingPipeline") == "skyreels"
    assert registry.FAMILIES["skyreels"].timing.clip_latents == 25
    auto, euler = skyreels.scheduler(loaded, "auto"), skyreels.scheduler(loaded, "euler")
    assert type(auto).__name__ == "UniPCMultistepScheduler" and auto.config.flow_shift == 8.0
    assert type(euler).__name__ == "FlowMatchEulerDiscreteScheduler" and euler.config.shift == 8.0
    with pytest.raises(UsageError, match="unipc, euler"):
        skyreels.scheduler(loaded, "ddim")
    with pytest.raises(UsageError, match="ar_step"):
        forcing.Forcing(ar_step=-1)


# --- end to end ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_storyboard_with_a_cut_and_a_morph_renders_every_planned_frame(tmp_path):
    """Three scenes at 12 fps: a 1 s shot (24 native frames, one chunk), a cut, then a 5 s shot with a
    morph (120 native frames, 31 latent frames: two chunks of 25, the second with 19 of history)."""
    from storyboard.cli import main

    script = write(tmp_path / "s.yaml", "output: {width: 64, height: 64, fps: 12}\nscenes:\n"
                   "  - {duration: 1s, prompts: a red room}\n"
                   "  - {duration: 2s, prompts: a blue sea, transition: cut}\n"
                   "  - {duration: 3s, prompts: a green hill, transition: morph}\n")
    out = tmp_path / "v.mp4"
    assert main(["render", str(script), "--model", "tiny-skyreels", "--steps", "2", "-o", str(out), "-q"]) == 0
    p = probe(out)
    assert (p.frames, p.fps, p.width, p.height) == (72, 12, 64, 64)


def test_plan_and_dry_run_state_each_shots_chunks_and_calls(tmp_path, capsys):
    """Torch-free, from the registry: a 12 s shot at 24 fps is 73 latent frames, 5 chunks of 25 with 4 of
    history (the last aligned to the shot's end, with 22), one call a step each."""
    from storyboard.cli import main

    script = write(tmp_path / "s.yaml", "output: {width: 32, height: 32, fps: 12}\nscenes:\n"
                   "  - {duration: 12s, prompts: a red room}\n  - {duration: 3s, prompts: a blue sea, transition: morph}\n"
                   "  - {duration: 2s, prompts: a green hill, transition: cut}\n")
    lines = ["  shot 0: 5 chunks of 25 latent frames, each after the first with 4 of history (the last 22); "
             "125 denoiser calls at 25 steps",
             "  shot 1: 1 chunk of 13 latent frames; 25 denoiser calls at 25 steps"]
    assert main(["plan", str(script), "--model", "tiny-skyreels"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2:] == lines and "made by diffusion forcing in chunks of up to 25 latent frames" in out[-3]
    assert main(["render", str(script), "--model", "tiny-skyreels", "--dry-run", "-o", str(tmp_path / "v.mp4")]) == 0
    assert capsys.readouterr().out.splitlines()[-2:] == lines
