"""The ``helios`` family on tiny random models: our chunked rollout equals the stock HeliosPipeline, the
history it keeps, per-frame prompts, chunked time and decoding, and a storyboard rendered end to end."""

from __future__ import annotations

import dataclasses
import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("accelerate")  # diffusers needs it to load a HeliosTransformer3DModel

from helpers import probe, torch_peak_bytes, write  # noqa: E402

from storyboard.backends.diffusion.families import helios  # noqa: E402
from storyboard.backends.diffusion.prompts import PromptTable  # noqa: E402
from storyboard.backends.latents import shot_latents  # noqa: E402
from storyboard.backends.registry import FAMILIES, pipeline_family  # noqa: E402
from storyboard.errors import UsageError  # noqa: E402
from storyboard.plan.data import FrameCond  # noqa: E402

PROMPT = "a  red kite &amp; a   blue sky "  # the pipeline cleans entities and whitespace; so must we
NEGATIVE = "blurry, static"
SIZE = 32  # 4 x 4 latent cells: the stock pipeline decodes every chunk even for latents, so keep it small
CHUNK = helios.CHUNK_LATENTS


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """tiny-helios written by the stock HeliosPipeline.save_pretrained."""
    return helios.save_components(helios.tiny_components(), tmp_path_factory.mktemp("tiny-helios"))


def chunk_noise(c, chunks: int, seed: int = 0, size: int = SIZE) -> torch.Tensor:
    """The noise HeliosPipeline draws from a generator seeded with ``seed``: ``[1, C, 9, h, w]`` a chunk,
    in chunk order, side by side."""
    g = torch.Generator().manual_seed(seed)
    cells = size // helios.spatial_factor(c)
    return torch.cat([torch.randn(1, helios.latent_channels(c), CHUNK, cells, cells, generator=g)
                      for _ in range(chunks)], dim=2)


def stock_pipeline(folder, kind: str = "HeliosPipeline"):
    """The stock pipeline loaded from ``folder``. It decodes every chunk even when asked for latents,
    and the video is dropped then: its VAE is stubbed out (the latents do not depend on it), which
    saves most of the test's time. Its transformer's output is made contiguous: CFG-zero* ``view``s it,
    which fails on the CPU (a diffusers bug the pipeline has with any output that is not contiguous)."""
    import diffusers

    pipe = getattr(diffusers, kind).from_pretrained(folder, dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    pipe.vae.decode = lambda z, return_dict=False: (torch.zeros(1, 3, 1, 8, 8),)
    pipe.transformer.register_forward_hook(lambda module, args, out: (out[0].contiguous(), *out[1:]))
    return pipe


def stock_latents(folder, c, chunks: int, steps: int, seed: int = 0, **call) -> torch.Tensor:
    out = stock_pipeline(folder)(
        prompt=PROMPT, negative_prompt=NEGATIVE, height=SIZE, width=SIZE, num_frames=33 * chunks,
        num_inference_steps=steps, generator=torch.Generator().manual_seed(seed), output_type="latent",
        max_sequence_length=c.text_length, **call)
    return out.frames


def denoiser_for(c, conds, guidance: float = 5.0, prompts=(PROMPT,)) -> helios.Denoiser:
    table = PromptTable.of(helios.encode_prompts(c, list(prompts), "cpu"), helios.encode_prompts(c, [NEGATIVE], "cpu"))
    return helios.Denoiser(c, table, conds, guidance, torch.float32)


def our_latents(c, noise, steps: int, guidance: float = 5.0, scheduler: str = "auto") -> tuple[torch.Tensor, int]:
    den = denoiser_for(c, [FrameCond(0, 0, 0.0, 0)] * noise.shape[2], guidance)
    with torch.no_grad():
        out = helios.rollout(c, den, helios.scheduler(c, scheduler), noise, None, steps=steps)
    return out, den.calls


# --- the stock pipeline as reference ----------------------------------------------------------------


def test_our_rollout_equals_the_stock_helios_pipeline_over_two_chunks(saved):
    c = helios.load(str(saved), "tiny-helios", {}, torch.float32)
    assert c.pipeline == "HeliosPipeline" and c.text_length == helios.TINY_TEXT_LENGTH
    noise = chunk_noise(c, chunks=2)
    ours, calls = our_latents(c, noise, steps=3)
    reference = stock_latents(saved, c, chunks=2, steps=3, guidance_scale=5.0)
    assert ours.shape == reference.shape == (1, 16, 18, 4, 4)
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-5)
    assert calls == 2 * 3 * 2  # chunks x steps x (prompt, negative)
    assert float((ours - noise).abs().mean()) > 0.1  # it did denoise
    # the second chunk read the first: made without history it differs
    alone, _ = our_latents(c, noise[:, :, CHUNK:], steps=3)
    assert float((alone - ours[:, :, CHUNK:]).abs().max()) > 1e-3


def test_euler_and_no_guidance_equal_the_stock_pipeline_too(saved, tmp_path):
    euler = {**helios.SCHEDULER, "scheduler_type": "euler", "use_dynamic_shifting": True}
    folder = helios.save_components(helios.tiny_components(seed=1, scheduler_config=euler), tmp_path / "euler")
    c = helios.load(str(folder), "tiny-helios", {}, torch.float32)
    assert helios.scheduler(c, "auto").config.scheduler_type == "euler"
    noise = chunk_noise(c, chunks=2, seed=5)
    ours, calls = our_latents(c, noise, steps=2, guidance=1.0)
    reference = stock_latents(folder, c, chunks=2, steps=2, seed=5, guidance_scale=1.0)
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-5)
    assert calls == 2 * 2  # unguided: one call a step


PYRAMIDS = {  # the pyramid's schedulers, gamma 1/4 (at 1/3 the block covariance is singular; the stock pipeline's
    # float32 Cholesky fails on the CPU)
    "cfg_zero_star": {**helios.SCHEDULER, "stages": 3, "use_dynamic_shifting": True, "gamma": 0.25},
    "distilled": {"_class_name": "HeliosDMDScheduler", "num_train_timesteps": 1000, "shift": 1.0, "stages": 3,
                  "stage_range": [0, 1 / 3, 2 / 3, 1], "gamma": 0.25, "prediction_type": "flow_prediction",
                  "use_flow_sigmas": True, "use_dynamic_shifting": True, "time_shift_type": "linear"},
}


@pytest.mark.parametrize("kind", sorted(PYRAMIDS))
def test_the_pyramid_equals_the_stock_helios_pyramid_pipeline(kind, tmp_path):
    """Two chunks of three stages at 64 x 64 pixels: guided with CFG-zero* (UniPC), or distilled (DMD, unguided).
    The stock pipeline draws, per chunk, the chunk's noise then each later stage's block noise from one
    generator: the same draws are fed to the rollout as its noise and its ``block_noise``."""
    distilled = kind == "distilled"
    steps, guidance, size = ([1, 2, 1], 1.0, 64) if distilled else ([2, 2, 2], 5.0, 64)
    tiny = helios.tiny_components(scheduler_config=PYRAMIDS[kind], pipeline="HeliosPyramidPipeline",
                                  distilled=distilled, cfg_zero_star=not distilled)
    folder = helios.save_components(tiny, tmp_path / kind)
    c = helios.load(str(folder), "tiny-helios", {}, torch.float32)
    assert (c.pipeline, c.distilled, c.cfg_zero_star) == ("HeliosPyramidPipeline", distilled, not distilled)
    assert helios.size_rule(c).width_step == 64
    reference = stock_pipeline(folder, "HeliosPyramidPipeline")(
        prompt=PROMPT, negative_prompt=NEGATIVE, height=size, width=size, num_frames=66, guidance_scale=guidance,
        pyramid_num_inference_steps_list=steps, generator=torch.Generator().manual_seed(0), output_type="latent",
        max_sequence_length=c.text_length).frames
    g, cells = torch.Generator().manual_seed(0), size // 8
    chunks, blocks = [], []
    for _ in range(2):
        chunks.append(torch.randn(1, 16, CHUNK, cells, cells, generator=g))
        for side in (cells // 2, cells):  # stages 1 and 2: a draw of 4 per 2 x 2 patch
            blocks.append(torch.randn(16 * CHUNK * (side // 2) ** 2, 4, generator=g))
    sizes = []

    def draw(n: int) -> torch.Tensor:
        sizes.append(n)
        return blocks.pop(0)

    noise = torch.cat(chunks, dim=2)
    den = denoiser_for(c, [FrameCond(0, 0, 0.0, 0)] * 2 * CHUNK, guidance)
    with torch.no_grad():
        ours = helios.rollout(c, den, helios.scheduler(c, "auto"), noise, None, sum(steps), stage_steps=steps,
                              block_noise=draw)
    assert sizes == [16 * CHUNK * 4, 16 * CHUNK * 16] * 2 and not blocks
    torch.testing.assert_close(ours, reference, rtol=0, atol=2e-5)
    assert den.calls == (2 * 4 if distilled else 2 * (6 - 2) * 2)  # CFG-zero* zeroes two steps a chunk: no calls
    assert float((ours - noise).abs().mean()) > 0.1


def test_block_noise_is_correlated_within_a_patch_and_reproducible():
    from types import SimpleNamespace

    x = torch.zeros(1, 4, 50, 40, 40)
    g = torch.Generator().manual_seed(1)
    n = helios.block_noise_like(x, 0.25, (1, 2, 2), lambda k: torch.randn(k, 4, generator=g))
    patches = n.unflatten(3, (20, 2)).unflatten(5, (20, 2)).permute(0, 1, 2, 3, 5, 4, 6).reshape(-1, 4)
    cov = patches.T @ patches / patches.shape[0]
    assert float((cov - (torch.eye(4) * 1.25 - 0.25)).abs().max()) < 0.02  # (1 + g) I - g 11^T
    assert helios.split_steps(6, 3) == [2, 2, 2] and helios.split_steps(7, 3) == [3, 2, 2]
    assert helios.split_steps(2, 3) == [1, 1, 1]

    c = helios.tiny_components(scheduler_config={**PYRAMIDS["cfg_zero_star"], "scheduler_type": "euler"},
                               pipeline="HeliosPyramidPipeline")

    class Zero:
        context, zero_init = None, False

        def __call__(self, x, t, window):
            return torch.zeros_like(x)

    def shot(seed: int) -> torch.Tensor:
        mapped = SimpleNamespace(latent=CHUNK, conds=[FrameCond(0, 0, 0.0, seed)] * CHUNK)
        return helios.rollout(c, Zero(), helios.scheduler(c, "auto"), torch.zeros(1, 16, CHUNK, 8, 8), mapped, steps=3)

    assert torch.equal(shot(4), shot(4))  # the block noise comes from the shot's seed
    assert float((shot(4) - shot(5)).abs().max()) > 0.1


def test_our_prompt_embeddings_are_the_pipelines(saved):
    from diffusers import HeliosPipeline

    c = helios.load(str(saved), "tiny-helios", {}, torch.float32)
    pipe = HeliosPipeline.from_pretrained(saved, dtype=torch.float32)
    theirs, negative = pipe.encode_prompt(PROMPT, NEGATIVE, max_sequence_length=c.text_length, device="cpu")
    encoded = helios.encode_prompts(c, [PROMPT, NEGATIVE], "cpu")
    torch.testing.assert_close(encoded.embeddings, torch.cat([theirs, negative]), rtol=0, atol=1e-5)
    tokens = len(c.tokenizer("a red kite & a blue sky").input_ids)
    assert encoded.masks[0].tolist() == [True] * tokens + [False] * (c.text_length - tokens)


# --- the history a rollout keeps ----------------------------------------------------------------------


def test_history_indices_are_the_pipelines_layout():
    idx = helios.history_indices(helios.HISTORY_SIZES, CHUNK)
    assert idx["latents_history_short"].tolist() == [[0, 19]]  # the first frame, the last frame
    assert idx["latents_history_long"].tolist() == [list(range(1, 17))]
    assert idx["latents_history_mid"].tolist() == [[17, 18]]
    assert idx["hidden_states"].tolist() == [list(range(20, 29))]


def test_each_chunk_reads_the_first_frame_and_the_last_19_latent_frames():
    """A known-answer denoiser (prediction 0: each chunk ends as its own noise) records what it read."""
    c = helios.tiny_components()
    noise = torch.arange(4 * CHUNK, dtype=torch.float32).view(1, 1, -1, 1, 1).expand(1, 16, -1, 2, 2).contiguous()
    seen: list[helios.ChunkContext] = []

    class Recorder:
        context = None

        def __call__(self, x, t, window):
            seen.append(self.context)
            return torch.zeros_like(x)

    scheduler = helios.scheduler(c, "euler")
    out = helios.rollout(c, Recorder(), scheduler, noise, None, steps=2)
    torch.testing.assert_close(out, noise)  # x + (sigma_next - sigma) * 0
    frame = lambda part: part[0, 0, :, 0, 0].tolist()  # noqa: E731  the latent frame numbers it holds
    first, second, fourth = seen[0], seen[2], seen[6]
    assert frame(first.short) == [0, 0] and frame(first.long) == [0] * 16  # zeros before the shot
    assert frame(second.short) == [0, 8] and frame(second.mid) == [6, 7]
    assert frame(second.long) == [0] * 10 + list(range(6))
    assert frame(fourth.short) == [0, 26] and frame(fourth.mid) == [24, 25] and frame(fourth.long) == list(range(8, 24))
    assert len(seen) == 4 * 2


def test_the_rollout_wants_whole_chunks_and_reports_progress():
    c = helios.tiny_components()
    with pytest.raises(ValueError, match="whole chunks of 9"):
        helios.rollout(c, lambda x, t, w: x, helios.scheduler(c, "auto"), torch.zeros(1, 16, 10, 2, 2), None, steps=1)
    steps: list[tuple[int, int]] = []

    class Zero:
        context = None

        def __call__(self, x, t, window):
            return torch.zeros_like(x)

    helios.rollout(c, Zero(), helios.scheduler(c, "auto"), torch.zeros(1, 16, 18, 2, 2), None, steps=3,
                   on_step=lambda done, total: steps.append((done, total)))
    assert steps == [(k, 6) for k in range(1, 7)]


# --- time -----------------------------------------------------------------------------------------


def test_a_shot_is_whole_chunks_of_33_frames():
    timing = helios.timing()
    assert FAMILIES["helios"].timing.clip_latents == timing.clip_latents == CHUNK
    assert [timing.latent_frames(n) for n in (1, 33, 34, 66, 67, 1000)] == [9, 9, 18, 18, 27, 279]
    assert timing.decoded_frames(18) == 66 and timing.decoded_frames(279) == 1023
    assert [timing.frames_of(k) for k in (0, 1, 8, 9, 10)] == [
        range(0, 1), range(1, 5), range(29, 33), range(33, 34), range(34, 38)]
    covered = [f for k in range(27) for f in timing.frames_of(k)]
    assert covered == list(range(99))  # every frame of 3 chunks held once


def test_plan_states_the_chunks_and_the_history_each_reads(tmp_path, capsys):
    """plan (torch-free) reads the registry's chunked time: whole chunks per shot, none overlapping."""
    from storyboard.cli import main

    script = write(tmp_path / "s.yaml", "output: {width: 32, height: 32, fps: 12}\nscenes:\n"
                   "  - {duration: 4s, prompts: a red room}\n"
                   "  - {duration: 3s, prompts: a blue sea, transition: morph}\n"
                   "  - {duration: 2s, prompts: a green hill, transition: cut}\n")
    assert main(["plan", str(script), "--model", "tiny-helios"]) == 0
    # shots of 7 s and 2 s at 24 fps: 168 and 48 native frames, in 6 and 2 chunks of 33 (264 frames made)
    assert ("model tiny-helios (helios): renders at 24 fps, shown at 12 fps; 2 shots, 216 native frames in 8 chunks "
            "of 33 frames (9 latent frames, decoded alone; 264 frames made); each chunk reads 19 latent frames of "
            "history (16 + 2 + 1) and its shot's first: 0.67 latent-frame evaluations per output frame\n"
            "  shot 0: 6 chunks (54 latent frames, 198 native frames made, 168 used); 150 denoiser calls at 25 steps\n"
            "  shot 1: 2 chunks (18 latent frames, 66 native frames made, 48 used); 50 denoiser calls at 25 steps\n"
            ) in capsys.readouterr().out


def test_a_morph_glides_per_latent_frame_across_chunks():
    """A 1,000-frame shot at 24 fps (native): 31 chunks; a glide's weight rises latent frame by latent frame."""
    from storyboard.plan.data import ShotPlan

    frames = 1000
    conds = tuple(FrameCond(0, 1, k / (frames - 1), 7) for k in range(frames))
    shot = ShotPlan(0, (0, 1), 0, frames, frames, ((0, frames),), conds)
    mapped = shot_latents(shot, 24, helios.timing(), overlap=4)
    assert mapped.native == frames and mapped.latent == 279 and len(mapped.conds) == 279
    weights = [c.w for c in mapped.conds]
    assert weights == sorted(weights) and weights[0] == 0.0 and weights[-1] == 1.0
    assert len(set(weights)) > 250  # per latent frame, not per chunk
    assert len(helios.chunk_spans(mapped.latent)) == 31
    assert max(mapped.shown) == frames - 1


# --- per-frame prompts, pulses ----------------------------------------------------------------------


def test_per_frame_prompts_in_the_whole_transformer_with_history():
    """One block: chunk frame k's output is a stock run's with prompt k (the text comes after self-attention)."""
    c = helios.tiny_components(num_layers=1)
    g = torch.Generator().manual_seed(5)
    x = torch.randn(1, 16, 3, 8, 8, generator=g)
    history = helios.History((16, 3, 8, 8), helios.HISTORY_SIZES, 3, "cpu")
    history.add(torch.randn(1, 16, 3, 8, 8, generator=g), first_chunk=True)
    extra = history.context().inputs(torch.float32)
    texts = torch.randn(2, 1, c.text_length, c.transformer.config.text_dim, generator=g)
    t = torch.tensor([700.0])

    def run(text, index=None, slots=1):
        c.slots.index, c.slots.slots = index, slots
        try:
            with torch.no_grad():
                return c.transformer(hidden_states=x, timestep=t, encoder_hidden_states=text, return_dict=False,
                                     **extra)[0]
        finally:
            c.slots.index = None

    stock = [run(texts[0]), run(texts[1])]
    torch.testing.assert_close(run(texts[0], torch.zeros(3, dtype=torch.long)), stock[0], rtol=0, atol=1e-5)
    mixed = run(torch.cat(list(texts), dim=1), torch.tensor([1, 0, 1]), 2)
    for frame, prompt in enumerate([1, 0, 1]):
        torch.testing.assert_close(mixed[:, :, frame], stock[prompt][:, :, frame], rtol=0, atol=1e-5)
    assert float((mixed - stock[0]).abs().max()) > 1e-3


def test_history_tokens_attend_to_the_first_frames_text_without_guidance_cross_attn():
    c = helios.tiny_components(num_layers=1, guidance_cross_attn=False)
    attn = c.transformer.blocks[0].attn2
    g = torch.Generator().manual_seed(2)
    video = torch.randn(1, 5 + 3 * 4, 24, generator=g)  # 5 history tokens, 3 latent frames of 4 tokens
    texts = torch.randn(2, 1, c.text_length, 24, generator=g)
    stock = lambda text: helios.PerFrameCrossAttention(helios.FrameSlots())(attn, video, text)  # noqa: E731
    with torch.no_grad():
        c.slots.index, c.slots.slots = torch.tensor([1, 0, 0]), 2
        mixed = attn(video, torch.cat(list(texts), dim=1), original_context_length=12)
        c.slots.index = None
        torch.testing.assert_close(mixed[:, :5], stock(texts[1])[:, :5], rtol=0, atol=1e-5)
        torch.testing.assert_close(mixed[:, 5:9], stock(texts[1])[:, 5:9], rtol=0, atol=1e-5)
        torch.testing.assert_close(mixed[:, 9:], stock(texts[0])[:, 9:], rtol=0, atol=1e-5)


def test_the_denoiser_gives_each_latent_frame_its_prompt_and_pulse():
    c = helios.tiny_components(num_layers=1)  # one block: a frame's text reaches no other frame
    x, t = chunk_noise(c, chunks=1, seed=3), torch.tensor(900.0)
    held = [FrameCond(0, 0, 0.0, 0)] * CHUNK
    glide = [FrameCond(0, 1, k / (CHUNK - 1), 0) for k in range(CHUNK)]
    pulsed = [dataclasses.replace(f, pulse=1.0) if k == 4 else f for k, f in enumerate(held)]
    prompts = ("a red kite", "a green field")
    with torch.no_grad():
        a = denoiser_for(c, held, prompts=prompts)(x, t, (0, CHUNK))
        b = denoiser_for(c, glide, prompts=prompts)(x, t, (0, CHUNK))
        p = denoiser_for(c, pulsed, prompts=prompts)(x, t, (0, CHUNK))
    assert float((a - b)[:, :, 0].abs().max()) < 1e-6  # weight 0: the first prompt
    assert float((a - b)[:, :, -1].abs().max()) > 1e-4
    diff = (p - a).abs().amax(dim=(0, 1, 3, 4))
    assert float(diff[4]) > 1e-4 and float(diff[[0, 1, 2, 3, 5, 6, 7, 8]].max()) < 1e-6  # only the pulsed frame


# --- decoding ---------------------------------------------------------------------------------------


def test_decoding_is_the_pipelines_chunk_by_chunk():
    c = helios.tiny_components()
    latents = chunk_noise(c, chunks=2, seed=4, size=16)
    mean = torch.tensor(c.vae.config.latents_mean).view(1, -1, 1, 1, 1)
    std = torch.tensor(c.vae.config.latents_std).view(1, -1, 1, 1, 1)
    with torch.no_grad():
        whole = torch.cat([c.vae.decode(latents[:, :, s:s + CHUNK] * std + mean).sample for s in (0, CHUNK)], dim=2)
    frames = list(helios.decode(c, latents, "cpu"))
    assert len(frames) == whole.shape[2] == 66 and frames[0].shape == (16, 16, 3)
    expected = ((whole / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)[0].permute(1, 2, 3, 0).numpy()
    assert max(int(abs(f.astype(int) - e.astype(int)).max()) for f, e in zip(frames, expected)) <= 1


@pytest.mark.slow
def test_decoding_memory_is_flat_in_the_shots_length():
    c = helios.tiny_components()

    def streamed(chunks: int):
        latents = torch.randn(1, 16, chunks * CHUNK, 2, 2, generator=torch.Generator().manual_seed(0))
        return lambda: [None for _ in helios.decode(c, latents, "cpu")]  # 16 x 16 pixels

    short, long = torch_peak_bytes(streamed(1)), torch_peak_bytes(streamed(3))
    extra = 66 * 3 * 16 * 16 * 4  # the 2 extra chunks' frames as float32
    assert 0 < long <= 1.3 * short and long - short < extra / 4


# --- loading, sizes, schedulers ----------------------------------------------------------------------


def test_a_pyramid_pipeline_folder_is_a_helios_model(tmp_path):
    from storyboard.backends.diffusion.families import family_name

    three = {**helios.SCHEDULER, "stages": 3}
    folder = helios.save_components(helios.tiny_components(scheduler_config=three), tmp_path / "pyramid",
                                    pipeline="HeliosPyramidPipeline")
    assert json.loads((folder / "model_index.json").read_text())["_class_name"] == "HeliosPyramidPipeline"
    assert pipeline_family("HeliosPyramidPipeline") == pipeline_family("HeliosPipeline") == "helios"
    assert family_name(str(folder)) == "helios"
    c = helios.load(str(folder), "org/helios", {}, torch.float32)
    assert c.pipeline == "HeliosPyramidPipeline" and c.scheduler_config["stages"] == 3
    assert helios.scheduler(c, "auto").config.stages == helios.scheduler(c, "euler").config.stages == 3
    with pytest.raises(UsageError, match="multiples of 64 pixels"):
        helios.check_size(c, 640, 400)  # three stages: 16 x 4
    helios.check_size(c, 640, 384)


def test_sizes_must_be_whole_patches():
    c = helios.tiny_components()
    helios.check_size(c, 640, 384)
    with pytest.raises(UsageError) as refused:
        helios.check_size(c, 650, 384)
    assert str(refused.value) == ("output.width: 650 does not fit model 'tiny-helios' (helios): width and height "
                                  "must be multiples of 16 pixels (nearest: 640 or 656)")
    assert FAMILIES["helios"].rule({}, {}).problems(640, 384) == []


def test_schedulers():
    c = helios.tiny_components()
    assert helios.scheduler(c, "auto").config.scheduler_type == "unipc"
    assert helios.scheduler(c, "euler").config.scheduler_type == "euler"
    dmd = dataclasses.replace(c, scheduler_config={**PYRAMIDS["distilled"]})
    with pytest.raises(UsageError, match="choose model.scheduler unipc or euler"):
        helios.scheduler(dmd, "auto")  # HeliosPipeline cannot step a DMD scheduler
    assert helios.scheduler(dmd, "euler").config.stages == 1  # HeliosPipeline runs one stage
    pyramid = dataclasses.replace(dmd, pipeline="HeliosPyramidPipeline")
    assert type(helios.scheduler(pyramid, "auto")).__name__ == "HeliosDMDScheduler"
    assert helios.scheduler(pyramid, "auto").config.stages == 3
    with pytest.raises(UsageError, match="auto, unipc, euler"):
        helios.scheduler(c, "ddim")
    assert abs(helios.shift_mu(c, (16, 9, 48, 80)) - (0.5 + (8640 - 256) * 0.65 / 3840)) < 1e-9


# --- end to end ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_storyboard_with_a_cut_and_a_morph_renders_with_tiny_helios(tmp_path):
    from storyboard.cli import main

    script = write(tmp_path / "s.yaml", "output: {width: 32, height: 32, fps: 8}\nmodel: {steps: 2}\nscenes:\n"
                   "  - {duration: 0.5s, prompts: a red room}\n"
                   "  - {duration: 1s, prompts: a blue sea, transition: cut}\n"
                   "  - {duration: 1s, prompts: a green hill, transition: {type: morph, duration: 0.5s}}\n")
    out = tmp_path / "v.mp4"
    assert main(["render", str(script), "--model", "tiny-helios", "-o", str(out), "-q"]) == 0
    p = probe(out)
    assert (p.frames, p.fps, p.width, p.height) == (20, 8, 32, 32)
