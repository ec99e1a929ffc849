"""The diffusion backend on the tiny random model (CPU, seconds)."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from helpers import probe, write  # noqa: E402

from storyboard.backends.diffusion.backend import DiffusionBackend  # noqa: E402
from storyboard.backends.diffusion.families.unet3d import (  # noqa: E402
    FrameContext,
    PerFrameCrossAttention,
    UNetDenoiser,
    save_components,
)
from storyboard.backends.diffusion.noise import freenoise, scene_noise  # noqa: E402
from storyboard.cli import main  # noqa: E402
from storyboard.plan.compile import compile_plan  # noqa: E402
from storyboard.script.load import load_script_text  # noqa: E402


def plan_of(text: str):
    return compile_plan(load_script_text(text, "t.yaml"))


def backend_for(tiny, plan):
    from storyboard.backends.diffusion.families import unet3d

    backend = DiffusionBackend(unet3d, tiny, plan, "cpu", torch.float32)
    unet3d.Denoiser(tiny, backend.table, (), 1.0, torch.float32)  # installs per-frame attention
    return backend


SMALL = """
output: {{width: 64, height: 32, fps: 8}}
model: {{id: tiny-random, steps: {steps}, scheduler: {scheduler}, guidance: 7.5, window: {{frames: 8, overlap: 2}}}}
scenes:
  - {{id: one, duration: 2s, prompts: {first}}}
  - {{id: two, duration: 2s, transition: {transition}, prompts: a blue sea}}
"""


def small(steps=3, scheduler="ddim", first="a red room", transition="morph"):
    return plan_of(SMALL.format(steps=steps, scheduler=scheduler, first=first, transition=transition))


def reference_slerp(a: np.ndarray, b: np.ndarray, w: float) -> np.ndarray:
    x, y = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    theta = math.acos(float(np.dot(x, y) / (np.linalg.norm(x) * np.linalg.norm(y))))
    out = (math.sin((1 - w) * theta) * x + math.sin(w * theta) * y) / math.sin(theta)
    return out.reshape(a.shape)


def test_each_frame_gets_the_slerp_of_its_prompts_at_the_plan_weight(tiny):
    plan = small()
    backend = backend_for(tiny, plan)
    shot = plan.shots[0]
    captured = []
    denoiser = UNetDenoiser(tiny.unet, tiny.context, backend.table, shot.frames, 7.5, torch.float32)
    original = tiny.unet.forward

    def spy(*args, **kwargs):
        captured.append(tiny.context.embeddings.clone())
        return original(*args, **kwargs)

    tiny.unet.forward = spy
    try:
        start, end = 12, 20  # frames 16..19 are the morph's glide
        x = torch.randn(1, 4, end - start, 4, 8)
        denoiser(x, torch.tensor(500), (start, end))
    finally:
        tiny.unet.forward = original
    embeddings = captured[0]
    n = end - start
    assert embeddings.shape[0] == 2 * n, "uncond then cond, one per frame"
    prompts = backend.table.prompts.numpy()
    gliding = 0
    for k in range(n):
        cond = shot.frames[start + k]
        expected = reference_slerp(prompts[cond.a], prompts[cond.b], cond.w) if 0 < cond.w < 1 else prompts[cond.b if cond.w >= 1 else cond.a]
        np.testing.assert_allclose(embeddings[n + k].numpy(), expected, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(embeddings[k].numpy(), backend.table.negative.numpy(), rtol=0, atol=0)
        gliding += 0 < cond.w < 1
    assert gliding >= 3, "the window covers part of the glide"


def test_per_frame_attention_equals_attending_each_frame_separately(tiny):
    from diffusers.models.attention_processor import Attention

    attn = next(m for m in tiny.unet.modules() if isinstance(m, Attention) and m.is_cross_attention)
    context = FrameContext()
    processor = PerFrameCrossAttention(context)
    frames, tokens, dim = 3, 10, attn.to_q.in_features
    hidden = torch.randn(frames, tokens, dim)
    per_frame = torch.randn(frames, 77, attn.to_k.in_features)
    context.embeddings = per_frame
    together = processor(attn, hidden, encoder_hidden_states=per_frame[:1].repeat(frames, 1, 1))
    context.embeddings = None
    for k in range(frames):
        alone = processor(attn, hidden[k:k + 1], encoder_hidden_states=per_frame[k:k + 1])
        torch.testing.assert_close(together[k:k + 1], alone, rtol=1e-5, atol=1e-6)


def test_uniform_per_frame_embeddings_reproduce_stock_unet3d(tiny):
    """With every frame on one prompt, our processor must not change the UNet's answer."""
    from diffusers import UNet3DConditionModel

    from storyboard.backends.diffusion.families.unet3d import TINY_UNET

    stock = UNet3DConditionModel(**TINY_UNET).eval()
    stock.load_state_dict(tiny.unet.state_dict())
    x, text = torch.randn(1, 4, 5, 4, 4), torch.randn(1, 77, 32)
    with torch.no_grad():
        expected = stock(x, torch.tensor(300), encoder_hidden_states=text).sample
        context = FrameContext()
        from storyboard.backends.diffusion.families.unet3d import (
            install_per_frame_attention,
        )

        context = install_per_frame_attention(stock)
        context.embeddings = text.repeat(5, 1, 1)
        ours = stock(x, torch.tensor(300), encoder_hidden_states=torch.zeros_like(text)).sample
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)


def render(backend, plan):
    return [np.stack(list(backend.render_shot(plan, shot))) for shot in plan.shots]


def test_same_seed_same_frames_other_seed_other_frames(tiny):
    plan = small()
    first = render(backend_for(tiny, plan), plan)
    again = render(backend_for(tiny, plan), plan)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    reseeded = plan_of(SMALL.format(steps=3, scheduler="ddim", first="a red room", transition="morph").replace("guidance: 7.5", "guidance: 7.5, seed: 99"))
    other = render(backend_for(tiny, reseeded), reseeded)
    assert not np.array_equal(first[0], other[0])


@pytest.mark.parametrize("scheduler", ["ddim", "dpm++"])
def test_both_schedulers_run(tiny, scheduler):
    plan = small(scheduler=scheduler, steps=4)
    frames = render(backend_for(tiny, plan), plan)
    assert frames[0].shape == (plan.total_frames, 32, 64, 3) and frames[0].dtype == np.uint8
    assert frames[0].std() > 1, "not a blank image"


def test_schedulers_differ(tiny):
    a, b = (render(backend_for(tiny, p), p)[0] for p in (small(scheduler="ddim"), small(scheduler="dpm++")))
    assert not np.array_equal(a, b)


def test_a_cut_resets_continuity_and_a_morph_keeps_it(tiny):
    """Change only the first scene's prompt: after a cut the second scene is untouched;
    after a morph (one continuous latent video) it changes."""
    def second_scene(first: str, transition: str) -> np.ndarray:
        plan = small(first=first, transition=transition)
        frames = np.concatenate(render(backend_for(tiny, plan), plan))
        return frames[plan.scenes[1].start:plan.scenes[1].end]

    assert np.array_equal(second_scene("a red room", "cut"), second_scene("a yellow desert", "cut"))
    assert not np.array_equal(second_scene("a red room", "morph"), second_scene("a yellow desert", "morph"))


def test_scene_noise_depends_only_on_seed_and_frame():
    long, short = scene_noise(5, 20, (4, 3, 3)), scene_noise(5, 7, (4, 3, 3))
    torch.testing.assert_close(long[:, :7], short, rtol=0, atol=0)
    assert not torch.equal(scene_noise(6, 7, (4, 3, 3)), short)


def test_freenoise_repeats_shuffled_window_noise():
    noise = freenoise(1, 40, (2, 2, 2), window=16, stride=12)
    first = {tuple(noise[:, k].flatten().tolist()) for k in range(16)}
    later = [tuple(noise[:, k].flatten().tolist()) for k in range(16, 40)]
    assert all(frame in first for frame in later), "later frames reuse the first window's noise"
    assert later[:12] != [tuple(noise[:, k].flatten().tolist()) for k in range(0, 12)], "shuffled, not copied"


@pytest.mark.slow
def test_folder_round_trip_offline_through_the_cli(tiny, tmp_path):
    folder = save_components(tiny, tmp_path / "tiny-model")
    script = write(tmp_path / "s.yaml", f"""
        output: {{width: 64, height: 32, fps: 8, preset: ultrafast}}
        model: {{id: {folder}, steps: 2, window: {{frames: 8, overlap: 2}}}}
        scenes:
          - {{duration: 1s, prompts: a red room}}
          - {{duration: 1s, transition: morph, prompts: a blue sea}}
    """)
    out = tmp_path / "v.mp4"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "storyboard", "render", str(script), "-o", str(out), "-q"],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    p = probe(out)
    assert (p.width, p.height, p.frames) == (64, 32, 16)


def test_loaded_weights_equal_saved(tiny, tmp_path):
    from storyboard.backends.diffusion.families import load_components

    family, loaded = load_components(str(save_components(tiny, tmp_path / "m")))
    assert family.NAME == "unet3d"
    for name in ("unet", "vae", "text_encoder"):
        saved, back = getattr(tiny, name).state_dict(), getattr(loaded, name).state_dict()
        assert saved.keys() == back.keys()
        assert all(torch.equal(saved[k], back[k]) for k in saved)
    assert loaded.tokenizer("a red room").input_ids == tiny.tokenizer("a red room").input_ids


@pytest.mark.slow
def test_tiny_random_renders_end_to_end(tmp_path, capsys):
    script = write(tmp_path / "s.yaml", """
        output: {width: 64, height: 32, fps: 8, preset: ultrafast}
        model: {id: tiny-random, steps: 2}
        scenes:
          - {duration: 1s, prompts: a red room}
          - {duration: 1s, transition: {type: crossfade, duration: 0.5s}, prompts: a blue sea}
    """)
    out = tmp_path / "v.mp4"
    assert main(["render", str(script), "-o", str(out), "-q"]) == 0
    assert probe(out).frames == 16


def test_missing_weights_fail_fast_with_instructions(tmp_path, capsys):
    script = write(tmp_path / "s.yaml", "scenes:\n  - {duration: 1s, prompts: x}\n")
    out = tmp_path / "v.mp4"
    code = main(["render", str(script), "-o", str(out), "--model", "damo-vilab/text-to-video-ms-1.7b"])
    err = capsys.readouterr().err
    assert code == 2
    assert "model 'damo-vilab/text-to-video-ms-1.7b' is not available" in err
    assert "`hf download damo-vilab/text-to-video-ms-1.7b`" in err and "HF_HUB_OFFLINE is set" in err
    assert not out.exists()


def test_an_unreachable_hub_fails_in_seconds_without_hf_hub_offline(tmp_path, monkeypatch):
    """No network and HF_HUB_OFFLINE unset: the hub's address refuses (a closed local port here),
    and the render stops in seconds with the download command, instead of retrying for minutes."""
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends
    script = write(tmp_path / "s.yaml", "scenes:\n  - {duration: 1s, prompts: x}\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": f"http://127.0.0.1:{port}",
           "HF_HOME": str(tmp_path / "hf")}
    result = subprocess.run([sys.executable, "-m", "storyboard", "render", str(script), "--model", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 2, result.stderr
    assert "the hub cannot be reached" in result.stderr and "`hf download Wan-AI/Wan2.1-T2V-1.3B-Diffusers`" in result.stderr

    # The seconds are the loader's, timed in this process once the imports are done (a busy machine
    # can take half a minute just importing torch and diffusers in a new process): one look in the
    # local cache, a refused TCP connection, and no download attempted, so nothing to retry.
    from storyboard.backends.diffusion.loading import (
        ModelUnavailable,
        load_from,
        quiet_libraries,
    )

    quiet_libraries()
    attempts: list[dict] = []

    def load(source: str, kwargs: dict) -> None:
        attempts.append(kwargs)
        raise ModelUnavailable(f"{source} is not in the cache")

    for name in ("HF_HUB_OFFLINE", "HF_ENDPOINT", "HF_HOME"):
        monkeypatch.setenv(name, env[name])
    started = time.monotonic()
    with pytest.raises(ModelUnavailable, match="the hub cannot be reached"):
        load_from("Wan-AI/Wan2.1-T2V-1.3B-Diffusers", None, ["transformer", "vae"], load)
    took = time.monotonic() - started
    assert attempts == [{"local_files_only": True}], "the hub itself was never asked"
    assert took < 5.0, f"{took:.1f} s"


def test_incomplete_model_folder_names_what_is_missing(tmp_path, capsys):
    (tmp_path / "model" / "unet").mkdir(parents=True)
    script = write(tmp_path / "s.yaml", "scenes:\n  - {duration: 1s, prompts: x}\n")
    assert main(["render", str(script), "-o", str(tmp_path / "v.mp4"), "--model", str(tmp_path / "model")]) == 2
    assert "lacks vae/, text_encoder/, tokenizer/, scheduler/" in capsys.readouterr().err


def test_size_that_does_not_fit_the_model_is_refused(tmp_path, capsys):
    script = write(tmp_path / "s.yaml", "output: {width: 72, height: 64}\nscenes:\n  - {duration: 1s, prompts: x}\n")
    assert main(["render", str(script), "-o", str(tmp_path / "v.mp4"), "--model", "tiny-random"]) == 2
    assert ("s.yaml:1:17: error: output.width: 72 does not fit model 'tiny-random' (unet3d): width and height must "
            "be multiples of 16 pixels (nearest: 64 or 80)") in capsys.readouterr().err


@pytest.mark.slow
def test_an_example_renders_with_tiny_random_through_the_cli(tmp_path, capsys):
    from helpers import ROOT

    out = tmp_path / "ms.mp4"
    assert main(["render", str(ROOT / "examples" / "modelscope-256.yaml"), "--model", "tiny-random", "--steps", "2",
                 "-o", str(out), "-q"]) == 0
    p = probe(out)
    assert (p.width, p.height, p.fps, p.frames) == (256, 256, 8.0, 80)
