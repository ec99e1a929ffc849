"""The preview animatic (issue 25, item 12): in a crossfade one header and prompt box is drawn,
not two on top of each other; different prompts look different; the pulse disc keeps clear of
the prompt box."""

from __future__ import annotations

import textwrap

import numpy as np

from storyboard.backends.preview import PreviewBackend
from storyboard.backends.preview.animatic import text_box
from storyboard.plan.compile import compile_plan
from storyboard.render.compose import blend
from storyboard.script.load import load_script_text

W, H = 320, 176


def _plan(body: str):
    return compile_plan(load_script_text(f"output: {{width: {W}, height: {H}, fps: 10}}\n"
                                         + textwrap.dedent(body), "t.yaml"))


def _video_frame(plan, frame: int) -> np.ndarray:
    """The frame as the compositor makes it: the outgoing handle blended with the incoming shot."""
    backend = PreviewBackend()
    fade = next(t for t in plan.transitions if t.kind == "crossfade")
    into = next(s for s in plan.shots if s.start == fade.start)
    before = plan.shots[into.index - 1]
    a = backend.frame(plan, before, frame, before.cond(frame))
    b = backend.frame(plan, into, frame, into.cond(frame))
    return blend(a, b, fade.weights[frame - fade.start])


def _text_pixels(frame: np.ndarray, box) -> np.ndarray:
    """White pixels (drawn text; the disc and the bars are drawn translucent) in ``box``
    (left, top, right, bottom)."""
    l, t, r, b = box
    region = frame[t:b, l:r].astype(int)
    return region.min(axis=2) >= 250


CROSSFADE = """
scenes:
  - {id: first, duration: 2s, prompts: a quiet harbour at dawn with fishing boats}
  - {id: second, duration: 2s, prompts: neon city street in the rain, transition: {type: crossfade, duration: 1s}}
"""


def test_a_crossfade_frame_shows_one_prompt_box_not_two_on_top_of_each_other():
    plan = _plan(CROSSFADE)
    fade = next(t for t in plan.transitions if t.kind == "crossfade")
    box = text_box(W, H)
    backend = PreviewBackend()
    into = next(s for s in plan.shots if s.start == fade.start)
    before = plan.shots[into.index - 1]
    for k in range(fade.frames):
        f = fade.start + k
        mixed = _video_frame(plan, f)
        out_alone = backend.frame(plan, before, f, before.cond(f))
        in_alone = backend.frame(plan, into, f, into.cond(f))
        drawn = [_text_pixels(x, (0, 0, W, box[3])).sum() > 30 for x in (out_alone, in_alone)]
        assert sum(drawn) == 1, f"frame {f}: exactly one side draws its prompt box, got {drawn}"
        # The mixed frame's text pixels are those of the side drawing (half-weight or more): readable.
        side = out_alone if drawn[0] else in_alone
        share = fade.weights[k] if drawn[1] else 1 - fade.weights[k]
        assert share >= 0.5
        text = _text_pixels(side, (0, 0, W, H))
        assert mixed[text].min(axis=1).mean() >= 0.5 * 255, "the text shows at half strength or more"
        mine = side[box[1]:box[3], box[0]:box[2]].astype(int)
        diff = np.abs(mixed[box[1]:box[3], box[0]:box[2]].astype(int) - mine).mean()
        other = (in_alone if drawn[0] else out_alone)[box[1]:box[3], box[0]:box[2]].astype(int)
        assert diff < np.abs(mixed[box[1]:box[3], box[0]:box[2]].astype(int) - other).mean() or share == 0.5
        header = [x[: 2 * max(10, H // 32), : W // 2].min(axis=2) > 200 for x in (out_alone, in_alone)]
        assert [h.sum() > 20 for h in header] == drawn, "the header goes with the prompt box"


PROMPTS = ["a mountain cabin in winter", "a mountain cabin in summer", "a portrait of an old sailor",
           "a busy market street at noon", "an astronaut floating above the earth", "a bowl of fruit on a wooden table"]


def _backgrounds(prompts: list[str]) -> list[np.ndarray]:
    """Each prompt's first frame where only the background and the disc show: below the
    header, above the prompt box; the disc's pixels are NaN."""
    from storyboard.backends.preview.colours import prompt_colours

    plan = _plan("scenes:\n" + "".join(f"  - {{duration: 1s, prompts: {p}}}\n" for p in prompts))
    backend = PreviewBackend()
    rows = slice(2 * max(10, H // 32) + 2, text_box(W, H)[1])
    out = []
    for shot in plan.shots:
        frame = backend.frame(plan, shot, shot.start, shot.cond(shot.start))[rows].astype(float)
        top = prompt_colours(plan.prompts[shot.cond(shot.start).a])[0]
        disc = np.array([int(255 * min(1.0, c ** (1 / 2.2) * 1.4 + 0.15)) for c in top])
        # the disc's fill (at 200/255 over the background) and its edge: everything near its colour
        frame[np.abs(frame - (0.78 * disc + 0.22 * frame)).max(axis=2) < 30] = np.nan
        out.append(frame)
    return out


def _structure(frame: np.ndarray) -> np.ndarray:
    """Brightness with its top-to-bottom trend (the shared gradient) fitted out; NaN kept."""
    light = frame.mean(axis=2)
    y = np.nonzero(~np.isnan(light))[0]
    slope, offset = np.polyfit(y, light[~np.isnan(light)], 1)
    return light - (offset + slope * np.arange(light.shape[0]))[:, None]


def test_different_prompts_look_different():
    """Colour: the mean difference between any two of six prompts' frames is at least 15 levels
    (it was 9.7 for the closest pair, 19.8 typical). Pattern: with the shared top-to-bottom
    gradient fitted out, each frame has a pattern of its own (there was none)."""
    import itertools

    frames = _backgrounds(PROMPTS)
    pairs = list(itertools.combinations(range(len(frames)), 2))
    differ = [np.nanmean(np.abs(frames[i] - frames[j])) for i, j in pairs]
    assert min(differ) > 15 and np.median(differ) > 24, [round(d, 1) for d in differ]
    patterns = [_structure(f) for f in frames]
    assert all(np.nanstd(p) > 6 for p in patterns), [round(np.nanstd(p), 1) for p in patterns]
    both = [~np.isnan(patterns[i]) & ~np.isnan(patterns[j]) for i, j in pairs]
    alike = [abs(np.corrcoef(patterns[i][m], patterns[j][m])[0, 1]) for (i, j), m in zip(pairs, both)]
    assert max(alike) < 0.9 and np.median(alike) < 0.4, [round(a, 2) for a in alike]
    again = _backgrounds(PROMPTS[:1])[0]
    assert np.array_equal(again, frames[0], equal_nan=True), "the same prompt always looks the same"


def test_the_pulse_disc_never_covers_the_prompt_text(monkeypatch):
    """Where each frame draws its disc (the first ellipse) and pastes its prompt text, recorded
    from Pillow's calls: the disc's square never meets the text's patch, pulse included."""
    from PIL import Image, ImageDraw

    calls: list[tuple[str, tuple[float, float, float, float]]] = []
    ellipse, paste = ImageDraw.ImageDraw.ellipse, Image.Image.paste

    def record_ellipse(self, xy, *args, **kwargs):
        calls.append(("ellipse", tuple(xy)))
        return ellipse(self, xy, *args, **kwargs)

    def record_paste(self, im, box=None, mask=None):
        if isinstance(im, Image.Image) and box is not None:
            calls.append(("paste", (box[0], box[1], box[0] + im.width, box[1] + im.height)))
        return paste(self, im, box, mask)

    monkeypatch.setattr(ImageDraw.ImageDraw, "ellipse", record_ellipse)
    monkeypatch.setattr(Image.Image, "paste", record_paste)
    plan = _plan("""
    bpm: 120
    scenes:
      - {duration: 6s, prompts: a drum kit on a stage under hot lights with a crowd dancing in front of it,
         hold: {at: 0s, duration: 6s, pulse: beats, strength: 1}}
      - {duration: 6s, prompts: a lighthouse, transition: {type: cut}}
    """)
    backend = PreviewBackend()
    pulses = 0
    for shot in plan.shots:
        for f in range(shot.start, shot.end):
            calls.clear()
            cond = shot.cond(f)
            backend.frame(plan, shot, f, cond)
            pulses += cond.pulse > 0.9
            disc = next(xy for kind, xy in calls if kind == "ellipse")
            for text in (xy for kind, xy in calls if kind == "paste"):
                apart = disc[2] <= text[0] or text[2] <= disc[0] or disc[3] <= text[1] or text[3] <= disc[1]
                assert apart, f"frame {f}: the disc {disc} meets the prompt text {text}"
    assert pulses > 5, "the disc grew on the beats"


def test_a_preview_segment_key_follows_the_crossfade_it_draws_its_header_in(tmp_path):
    """The preview draws one side's header during a crossfade, so a segment made for one fade length is not
    reused for another."""
    from storyboard.pipeline import plan_script
    from storyboard.render.segments import segment_key
    from storyboard.script.load import load_script

    def keys(fade: str, backend: str) -> list[str]:
        path = tmp_path / f"s{fade}.yaml"
        path.write_text("output: {width: 64, height: 64, fps: 12}\nscenes:\n  - {id: a, duration: 2s, prompts: red}\n"
                        f"  - {{id: b, duration: 2s, prompts: blue, transition: {{type: crossfade, duration: {fade}}}}}\n")
        plan = plan_script(load_script(path)).plan
        return [segment_key(plan, shot, backend, "1", False) for shot in plan.shots]

    assert keys("0.5s", "preview")[1] != keys("1s", "preview")[1]
