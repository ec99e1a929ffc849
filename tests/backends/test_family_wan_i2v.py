"""The ``wan_i2v`` family on tiny random models: equal to the stock WanImageToVideoPipeline (first frame, first
and last frames; Wan 2.1 with its CLIP image encoder, FLF2V, Wan 2.2 A14B's two experts), each sliding window
conditioned on the images it holds, detection from model_index.json, and a clear refusal without an image."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("accelerate")  # diffusers needs it to load a WanTransformer3DModel

from helpers import write  # noqa: E402

from storyboard.backends import registry  # noqa: E402
from storyboard.backends.diffusion.families import wan_i2v  # noqa: E402
from storyboard.backends.diffusion.prompts import PromptTable  # noqa: E402
from storyboard.backends.diffusion.sampler import sample  # noqa: E402
from storyboard.backends.registry import FAMILIES, LatentTiming  # noqa: E402
from storyboard.backends.sources import locate_model, model_timing  # noqa: E402
from storyboard.errors import UsageError  # noqa: E402
from storyboard.plan.data import FrameCond  # noqa: E402

PROMPT, NEGATIVE = "a red kite over  a hill", "blurry"
FRAMES, SIZE = 17, 64  # 17 frames: 5 latent frames of 8 x 8 cells
LATENTS = wan_i2v.TIMING.latent_frames(FRAMES)
WINDOWS = ((0, 5), (3, 8), (6, 11), (9, 14))  # a shot of 14 latent frames (53 frames), four windows of 17 frames
KEY, LAST = 28, 52  # native frames: the keyframe is the 4th frame of latent frame 7, the last image latent frame 13's


def picture(kind: str) -> np.ndarray:
    """Distinct ``SIZE x SIZE`` RGB test pictures (uint8): a gradient, a red card, a blue card."""
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    if kind == "gradient":
        return np.stack([x * 4, y * 4, (x + y) * 2], -1).astype(np.uint8)
    colour = {"red": (230, 30, 30), "blue": (20, 40, 220)}[kind]
    return np.stack([np.full_like(x, v) for v in colour], -1).astype(np.uint8)


def pixels(image: np.ndarray) -> torch.Tensor:
    """An image as the stock pipeline's video processor makes it: ``[1, 3, H, W]`` in [-1, 1]."""
    return (torch.from_numpy(image).permute(2, 0, 1).float() / 127.5 - 1.0).unsqueeze(0)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Each tiny structure written by the stock WanImageToVideoPipeline.save_pretrained."""
    return {kind: wan_i2v.save_components(wan_i2v.tiny_components(seed=i, kind=kind),
                                          tmp_path_factory.mktemp(f"tiny-wan-{kind}"))
            for i, kind in enumerate(wan_i2v.KINDS)}


def stock_pipe(folder):
    from diffusers import WanImageToVideoPipeline

    pipe = WanImageToVideoPipeline.from_pretrained(folder, dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def noise_for(frames: int = LATENTS, seed: int = 0) -> torch.Tensor:
    return torch.randn((1, 16, frames, SIZE // 8, SIZE // 8), generator=torch.Generator().manual_seed(seed))


def table_of(c) -> PromptTable:
    return PromptTable.of(wan_i2v.encode_prompts(c, [PROMPT], "cpu"), wan_i2v.encode_prompts(c, [NEGATIVE], "cpu"))


def our_latents(c, images, noise, windows, steps: int, guidance: float = 5.0, **denoiser):
    shot = wan_i2v.encode_images(c, images, windows, "cpu", width=SIZE, height=SIZE)
    conds = [FrameCond(0, 0, 0.0, 0)] * noise.shape[2]
    den = wan_i2v.Denoiser(c, table_of(c), conds, guidance, torch.float32, images=shot, **denoiser)
    with torch.no_grad():
        return sample(den, wan_i2v.scheduler(c, "auto"), noise, windows, steps=steps), den


# --- the stock pipeline as reference ------------------------------------------------------------


@pytest.mark.parametrize("kind, last", [("i2v", False), ("flf2v", True), ("a14b", False), ("a14b", True)])
def test_our_sampling_equals_the_stock_image_to_video_pipeline(saved, kind, last):
    """One window, the same noise, 3 steps, guidance 5 (A14B: 5 then 3 below its boundary): our Denoiser and
    sampler give the stock pipeline's latents at float32."""
    from PIL import Image

    c = wan_i2v.load(str(saved[kind]), "tiny-wan-i2v", {}, torch.float32)
    assert c.embeddings == {"i2v": 1, "flf2v": 2, "a14b": 0}[kind]
    assert (c.transformer_2 is not None) == (kind == "a14b") and (c.image_encoder is None) == (kind == "a14b")
    first, final = picture("gradient"), picture("blue")
    images = {0: first, FRAMES - 1: final} if last else {0: first}
    noise = noise_for()
    seen: list[str] = []
    for name in ("transformer", "transformer_2"):
        if getattr(c, name) is not None:
            getattr(c, name).register_forward_pre_hook(lambda *_, name=name: seen.append(name))
    extra = {"guidance_2": 3.0} if kind == "a14b" else {}
    ours, den = our_latents(c, images, noise, [(0, LATENTS)], steps=3, **extra)
    if kind == "a14b":  # timesteps 999, 857, 601 (flow shift 3) against the boundary 900
        assert seen == ["transformer", "transformer_2", "transformer_2"]
    stock = stock_pipe(saved[kind])
    call = {"last_image": Image.fromarray(final)} if last else {}
    if kind == "a14b":
        call["guidance_scale_2"] = 3.0
    reference = stock(image=Image.fromarray(first), prompt=PROMPT, negative_prompt=NEGATIVE, height=SIZE, width=SIZE,
                      num_frames=FRAMES, num_inference_steps=3, guidance_scale=5.0, latents=noise.clone(),
                      output_type="latent", **call).frames
    assert ours.shape == reference.shape == noise.shape
    assert float((ours - reference).abs().max()) < 1e-4
    assert float((ours - noise).abs().mean()) > 0.1  # it did denoise
    assert den.calls == 3 and den.received[0] == ((0, LATENTS), tuple(images), (0, max(images))[:c.embeddings])


def test_the_image_changes_the_video(saved):
    """The condition is read: another start image gives other latents, from the same noise."""
    c = wan_i2v.load(str(saved["i2v"]), "tiny-wan-i2v", {}, torch.float32)
    noise = noise_for(seed=3)
    a, _ = our_latents(c, {0: picture("gradient")}, noise, [(0, LATENTS)], steps=2)
    b, _ = our_latents(c, {0: picture("red")}, noise, [(0, LATENTS)], steps=2)
    assert float((a - b).abs().max()) > 1e-3


def test_our_image_embeddings_are_the_pipelines(saved):
    c = wan_i2v.load(str(saved["flf2v"]), "tiny-wan-i2v", {}, torch.float32)
    images = [picture("gradient"), picture("red")]
    with torch.no_grad():
        theirs = stock_pipe(saved["flf2v"]).encode_image(images, "cpu")
    ours = wan_i2v.embed_images(c, images, "cpu")
    assert ours.shape == (2, wan_i2v.TINY_IMAGE_TOKENS, 32)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)


# --- where images go, window by window ----------------------------------------------------------


def test_each_window_holds_the_images_in_its_latent_frames():
    """Start image at native frame 0, a keyframe at 28 (latent frame 7, its 4th frame), the last at 52
    (latent frame 13): each window places them in its own 17-frame clip; its embeddings are the images
    shown at or before its first frame and at or after its last."""
    plans = wan_i2v.window_conditions(WINDOWS, [LAST, 0, KEY])
    assert [p.window for p in plans] == list(WINDOWS) and {p.frames for p in plans} == {17}
    assert [p.placed for p in plans] == [((0, 0),), ((16, KEY),), ((4, KEY),), ((16, LAST),)]
    assert [p.embedded for p in plans] == [(0, KEY), (0, KEY), (0, LAST), (KEY, LAST)]
    assert plans[0].clip != plans[1].clip and wan_i2v.window_conditions([(0, 5)], [])[0].embedded == ()


def test_one_window_with_the_first_and_last_frames_is_the_stock_clip():
    [plan] = wan_i2v.window_conditions([(0, LATENTS)], [0, FRAMES - 1])
    assert plan.placed == ((0, 0), (FRAMES - 1, FRAMES - 1)) and plan.embedded == (0, FRAMES - 1)


def test_a_window_that_starts_on_an_image_holds_it_at_its_first_frame():
    timing = wan_i2v.TIMING
    assert [wan_i2v.latent_of(n, timing) for n in (0, 1, 4, 5, 28, 29)] == [0, 1, 1, 2, 7, 8]
    plans = wan_i2v.window_conditions([(0, 5), (2, 7)], [5, 6, 8])  # latent frame 2 holds frames 5..8
    assert plans[0].placed == ((5, 5), (6, 6), (8, 8))
    assert plans[1].placed == ((0, 5),)  # all three fall on the window's first frame: the earliest is kept
    with pytest.raises(ValueError, match="native frame 57 .latent frame 15. is past the shot's 14 latent frames"):
        wan_i2v.window_conditions(WINDOWS, [0, 57])
    with pytest.raises(ValueError, match="causal"):
        wan_i2v.window_conditions(WINDOWS, [0], LatentTiming(ratio=4))


def test_output_frames_map_to_the_native_frames_the_images_condition():
    """3 s at 8 fps: 24 output frames, 48 native frames in 13 latent frames (49 frames). The first output frame's
    image goes to native frame 0, the last's to the model's last frame (48), a keyframe to the frame it shows."""
    from storyboard.backends.latents import shot_latents
    from storyboard.plan.data import ShotPlan

    conds = tuple(FrameCond(0, 0, 0.0, 0) for _ in range(24))
    mapped = shot_latents(ShotPlan(0, (0,), 0, 24, 24, ((0, 24),), conds), 8, wan_i2v.TIMING, 4)
    assert (mapped.native, mapped.latent, mapped.shown[0], mapped.shown[10]) == (48, 13, 1, 21)
    placed = wan_i2v.native_frames(mapped, {23: "last", 0: "start", 10: "key"})
    assert placed == {0: "start", 21: "key", 48: "last"} and list(placed) == [0, 21, 48]
    [plan] = wan_i2v.window_conditions(mapped.windows, list(placed))
    assert plan.placed == ((0, 0), (21, 21), (48, 48)) and plan.frames == 49
    with pytest.raises(ValueError, match="output frame 24 is outside the shot's 24 frames"):
        wan_i2v.native_frames(mapped, {24: "late"})


def test_each_windows_denoiser_call_receives_its_conditioning(saved):
    """A shot of four windows: every DiT call reads its window's mask and condition latents (the first and
    last windows' as the stock pipeline prepares a clip with that first image, or that last image) and the
    CLIP embeddings of its two images (FLF2V)."""
    c = wan_i2v.load(str(saved["flf2v"]), "tiny-wan-i2v", {}, torch.float32)
    start, key, last = picture("gradient"), picture("red"), picture("blue")
    calls: list[tuple[torch.Tensor, torch.Tensor]] = []
    c.transformer.register_forward_pre_hook(
        lambda module, args, kwargs: calls.append((kwargs["hidden_states"][:, 16:].clone(),
                                                   kwargs["encoder_hidden_states_image"].clone())), with_kwargs=True)
    noise = noise_for(frames=14, seed=1)
    out, den = our_latents(c, {0: start, KEY: key, LAST: last}, noise, list(WINDOWS), steps=1)
    assert out.shape == noise.shape and den.calls == len(calls) == 4  # 4 windows a step
    assert [r[0] for r in den.received] == list(WINDOWS)
    assert [r[1:] for r in den.received] == [((0,), (0, KEY)), ((KEY,), (0, KEY)), ((KEY,), (0, LAST)),
                                                ((LAST,), (KEY, LAST))]
    stock = stock_pipe(saved["flf2v"])
    with torch.no_grad():
        _, first_clip = stock.prepare_latents(pixels(start), 1, 16, SIZE, SIZE, 17, torch.float32, "cpu",
                                              latents=noise[:, :, :5])
        _, last_clip = stock.prepare_latents(torch.zeros(1, 3, SIZE, SIZE), 1, 16, SIZE, SIZE, 17, torch.float32,
                                             "cpu", latents=noise[:, :, :5], last_image=pixels(last))
        embedded = {pair: stock.encode_image([{0: start, KEY: key, LAST: last}[n] for n in pair], "cpu")
                    for pair in ((0, KEY), (0, LAST), (KEY, LAST))}
    masks = {}
    for (window, _, pair), (condition, image) in zip(den.received, calls):
        assert condition.shape == (2, 20, 5, 8, 8)  # [uncond, cond]: 4 mask channels, 16 latent channels
        assert bool((condition[0] == condition[1]).all())
        torch.testing.assert_close(image[:2], embedded[pair], rtol=0, atol=1e-6)  # FLF2V: first and last
        masks[window] = condition[0, :4, :, 0, 0]
    expected = {window: torch.zeros(4, 5) for window in WINDOWS}
    expected[(0, 5)][:, 0] = 1  # the start image: the first latent frame's four slots
    expected[(3, 8)][3, 4] = expected[(6, 11)][3, 1] = expected[(9, 14)][3, 4] = 1  # the 4th frame of its latent frame
    assert all(torch.equal(masks[w], expected[w]) for w in WINDOWS), masks
    first_call = calls[0][0][0]
    torch.testing.assert_close(first_call, first_clip[0], rtol=0, atol=1e-6)
    last_call = calls[3][0][0]
    torch.testing.assert_close(last_call[4:], last_clip[0, 4:], rtol=0, atol=1e-6)  # its latents: zeros, then the image
    assert float(last_clip[0, :4, 0].min()) == 1 and float(last_call[:4, 0].max()) == 0  # stock always marks frame 0


def test_the_condition_latents_hold_each_image_at_its_place():
    """Causal: the latent frames before an image's are the blank clip's, its own latent frame differs; the start
    image's latent frame decodes to exactly the VAE's own round trip of the image (so reproduced within the VAE's
    reconstruction error: with random weights that error is large, the equality is what can fail)."""
    c = wan_i2v.tiny_components()
    start, key, last = picture("gradient"), picture("red"), picture("blue")
    shot = wan_i2v.encode_images(c, {0: start, KEY: key, LAST: last}, list(WINDOWS), "cpu", width=SIZE, height=SIZE)
    blank = wan_i2v.encode_clip(c, 17, {}, SIZE, SIZE, "cpu")
    for window, latent in (((3, 8), 4), ((6, 11), 1), ((9, 14), 4)):
        condition, _ = shot.of(window)
        assert torch.equal(condition[:, 4:, :latent], blank[:, 4:, :latent]), window
        assert float((condition[:, 4:, latent] - blank[:, 4:, latent]).abs().max()) > 1e-3, window
    condition, embedding = shot.of((0, 5))
    assert embedding.shape == (1, wan_i2v.TINY_IMAGE_TOKENS, 32)  # Wan 2.1 I2V reads one: the start image's
    decoded = next(wan_i2v.decode(c, condition[:, 4:, :1], "cpu"))
    with torch.no_grad():
        round_trip = c.vae.decode(c.vae.encode(pixels(start).unsqueeze(2)).latent_dist.mode()).sample
    expected = ((round_trip[0, :, 0] / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    assert int(np.abs(decoded.astype(int) - expected.astype(int)).max()) <= 1
    assert len(shot.clips) == 4 and shot.of((3, 8))[0] is not shot.of((6, 11))[0]


def test_windows_without_images_share_one_blank_clip():
    c = wan_i2v.tiny_components()
    shot = wan_i2v.encode_images(c, {0: picture("gradient")}, list(WINDOWS), "cpu", width=SIZE, height=SIZE)
    blank = [shot.of(w)[0] for w in WINDOWS[1:]]
    assert len(shot.clips) == 2 and blank[0] is blank[1] is blank[2] and float(blank[0][:, :4].abs().max()) == 0
    assert all(torch.equal(shot.of(w)[1], shot.embeddings[0]) for w in WINDOWS)  # the start image everywhere
    with pytest.raises(ValueError, match=r"window \(1, 6\) is not one the shot's images were encoded for"):
        shot.of((1, 6))


# --- images in ------------------------------------------------------------------------------------


def test_images_are_cropped_to_the_output_aspect_and_resized():
    wide = np.zeros((40, 120, 3), np.uint8)
    wide[:, 40:80] = 200  # the middle third: what a square output keeps
    fitted = wan_i2v.fit_image(wide, 32, 32)
    assert fitted.shape == (32, 32, 3) and int(fitted.min()) >= 190
    tall = np.zeros((100, 50, 3), np.uint8)
    tall[25:75] = 255
    assert int(wan_i2v.fit_image(tall, 64, 64).min()) >= 250
    same = picture("red")
    assert wan_i2v.fit_image(same, SIZE, SIZE) is same
    with pytest.raises(ValueError, match=r"native frame 28 is float64 of shape \(4, 4, 3\): expected H x W x 3 uint8"):
        wan_i2v.check_image(KEY, np.zeros((4, 4, 3)))


def test_a_shot_without_an_image_is_refused_clearly():
    c = wan_i2v.tiny_components(kind="a14b")
    with pytest.raises(UsageError) as refused:
        wan_i2v.Denoiser(c, table_of(c), [FrameCond(0, 0, 0.0, 0)] * LATENTS, 5.0, torch.float32)
    text_alone = [f.tiny for f in FAMILIES.values() if "image" not in f.conditioning]
    assert str(refused.value) == (
        "model 'tiny-wan-i2v' (wan_i2v) animates an image: give the shot a start image (a scene's image, keyframes "
        f"or last frame), or render text alone with a text-to-video model ({', '.join(text_alone)})")
    assert {"tiny-random", "tiny-wan", "tiny-ltx"} <= set(text_alone) and "tiny-wan-i2v" not in text_alone
    with pytest.raises(UsageError, match="animates an image"):
        wan_i2v.encode_images(c, {}, [(0, 5)], "cpu", width=SIZE, height=SIZE)


def test_rendering_text_alone_with_the_tiny_model_exits_2_and_writes_nothing(tmp_path, capsys):
    from storyboard.cli import main

    script = write(tmp_path / "s.yaml", "output: {width: 64, height: 64, fps: 8}\nscenes:\n"
                   "  - {duration: 1s, prompts: a red room}\n")
    out = tmp_path / "v.mp4"
    assert main(["render", str(script), "--model", "tiny-wan-i2v", "--steps", "1", "-o", str(out), "-q"]) == 2
    assert f"{script}:3:29: error: scenes[0].prompts: model 'tiny-wan-i2v' (wan_i2v) animates an image" in \
        capsys.readouterr().err  # refused by the check, before torch: located at the shot's scene
    assert not out.exists()
    assert main(["plan", str(script), "--model", "tiny-wan-i2v"]) == 2


# --- loading, detection, sizes ------------------------------------------------------------------


def test_a_saved_model_is_found_by_its_model_index(saved):
    for kind, folder in saved.items():
        index = json.loads((folder / "model_index.json").read_text())
        assert index["_class_name"] == "WanImageToVideoPipeline"
        assert locate_model(str(folder)).family == "wan_i2v", kind
        assert model_timing(str(folder)) == ("wan_i2v", FAMILIES["wan_i2v"].timing)
    assert bool((json.loads((saved["i2v"] / "model_index.json").read_text())["image_encoder"] or [None])[0])
    assert locate_model("tiny-wan-i2v").family == "wan_i2v" and "tiny-wan-i2v" in registry.built_in()
    c = wan_i2v.load(str(saved["i2v"]), "org/model", {}, torch.float32)
    assert c.text_length == 512 and wan_i2v.latent_channels(c) == 16 and wan_i2v.spatial_factor(c) == 8


def test_hub_names_tell_image_to_video_ids_from_text_to_video_ones():
    entry = FAMILIES["wan_i2v"]
    assert all(entry.named_by(hub_id) for hub_id in entry.checkpoints)
    assert not any(entry.named_by(hub_id) for hub_id in ("Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "Wan-AI/Wan2.1-T2V-14B",
                                                         "Wan-AI/Wan2.2-TI2V-5B-Diffusers", "Wan-AI/Wan2.1-VACE-14B"))


def test_an_uncached_hub_id_is_taken_for_the_family_its_name_says_most_specifically():
    """wan's 'startswith:wan-ai/' holds every Wan-AI id; '/wan2.1-i2v-' says more."""
    assert registry.named_family("Wan-AI/Wan2.1-I2V-14B-480P-Diffusers") == "wan_i2v"
    assert registry.named_family("Wan-AI/Wan2.2-I2V-A14B-Diffusers") == "wan_i2v"
    assert registry.named_family("Wan-AI/Wan2.1-T2V-1.3B-Diffusers") == "wan"
    assert registry.named_family("someone/not-a-video-model") is None


def test_ti2v_saved_as_image_to_video_is_refused(saved, tmp_path):
    import shutil

    folder = shutil.copytree(saved["a14b"], tmp_path / "ti2v")
    index = json.loads((folder / "model_index.json").read_text())
    (folder / "model_index.json").write_text(json.dumps({**index, "expand_timesteps": True}))
    with pytest.raises(UsageError, match="Wan 2.2 TI2V .expand_timesteps.: its first-frame conditioning is not driven"):
        wan_i2v.load(str(folder), "org/ti2v", {}, torch.float32)


def test_sizes_must_be_whole_patches():
    c = wan_i2v.tiny_components(kind="a14b")
    wan_i2v.check_size(c, 832, 480)
    with pytest.raises(UsageError) as refused:
        wan_i2v.check_size(c, 840, 480)
    assert str(refused.value) == ("output.width: 840 does not fit model 'tiny-wan-i2v' (wan_i2v): width and height "
                                  "must be multiples of 16 pixels (nearest: 832 or 848)")


def test_per_frame_prompts_sit_beside_the_images_attention():
    """One slot is the stock processor (image tokens first, 512 text tokens); two slots give each latent
    frame its own prompt while every frame still reads the image."""
    from diffusers.models.transformers.transformer_wan import WanAttnProcessor

    c = wan_i2v.tiny_components()
    attn = c.transformer.blocks[0].attn2
    g = torch.Generator().manual_seed(0)
    video = torch.randn(2, 3 * 16, 24, generator=g)  # 3 latent frames of 16 tokens
    image = torch.randn(2, wan_i2v.TINY_IMAGE_TOKENS, 24, generator=g)
    texts = torch.randn(2, 2, 512, 24, generator=g)
    stock = lambda text: WanAttnProcessor()(attn, video, torch.cat([image, text], dim=1))  # noqa: E731
    with torch.no_grad():
        c.slots.index, c.slots.slots = torch.zeros(3, dtype=torch.long), 1
        one = attn(video, torch.cat([image, texts[0]], dim=1))
        c.slots.index, c.slots.slots = torch.tensor([1, 0, 1]), 2
        mixed = attn(video, torch.cat([image, texts[0], texts[1]], dim=1))
        c.slots.index, c.slots.slots = None, 1
        torch.testing.assert_close(one, stock(texts[0]), rtol=0, atol=1e-5)
        for frame, prompt in enumerate([1, 0, 1]):
            part = slice(frame * 16, (frame + 1) * 16)
            torch.testing.assert_close(mixed[:, part], stock(texts[prompt])[:, part], rtol=0, atol=1e-5)


@pytest.mark.slow
def test_a_storyboard_with_images_renders_with_tiny_wan_i2v_through_the_cli(tmp_path, monkeypatch):
    """The plan's images reach the family: a start image and a keyframe on a shot longer than a window, a
    cut with its own start image; every planned frame comes out."""
    from PIL import Image

    from helpers import probe
    from storyboard.backends.diffusion.families import wan_i2v as family
    from storyboard.cli import main

    for name, colour in (("dawn.png", (200, 90, 40)), ("noon.png", (40, 90, 200)), ("dusk.png", (90, 200, 40))):
        Image.new("RGB", (96, 64), colour).save(tmp_path / name)
    script = write(tmp_path / "s.yaml", "output: {width: 32, height: 32, fps: 8}\nmodel: {seed: 3}\nscenes:\n"
                   "  - {duration: 6s, image: dawn.png, prompts: a red harbour,\n"
                   "     keyframes: [{at: 4s, image: noon.png}]}\n"
                   "  - {duration: 1s, image: dusk.png, prompts: a green hill, transition: cut}\n")
    received = []
    real = family.encode_images
    monkeypatch.setattr(family, "encode_images",
                        lambda c, images, windows, *a, **k: received.append((sorted(images), list(windows)))
                        or real(c, images, windows, *a, **k))
    out = tmp_path / "v.mp4"
    assert main(["render", str(script), "--model", "tiny-wan-i2v", "--steps", "2", "-o", str(out), "-q"]) == 0
    p = probe(out)
    assert (p.frames, p.fps, p.width, p.height) == (56, 8, 32, 32)
    # shot 0: 6 s at 16 fps = 96 native frames, 25 latent frames in two windows; the keyframe at 4 s is output
    # frame 32, which shows native frame 65 (the one nearest its middle, (32 + 0.5) x 16 / 8)
    assert received[0] == ([0, 65], [(0, 21), (4, 25)]) and received[1][0] == [0]
