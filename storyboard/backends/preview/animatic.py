"""The preview backend: an animatic that shows timing before any GPU time is spent.

Each frame is a colour field derived from its prompts (similar prompts, similar
colours: a prompt's colour is the mean of its words' colours, with colour words
taking their own colour) times a pattern hashed from its text (bands and rings:
different prompts look different), blended by the interpolation weight, with the
prompt text in a box in the lower part, the scene id, timecode and beat pulse
drawn over it. A drifting disc moves continuously within a shot above the prompt
box and restarts at a cut, so continuity is visible. In a crossfade only the side
seen more (half or more) draws its header and prompt box, so the blend shows one,
readable. A shot's images, subjects and control video are drawn too
(:mod:`storyboard.backends.preview.pictures`): a keyframe fills the frame on its frame. No torch;
numpy and Pillow only.
"""

from __future__ import annotations

import functools
import hashlib
import math
from typing import Iterator

import numpy as np
from PIL import Image, ImageDraw

from storyboard.backends.preview.colours import prompt_colours
from storyboard.backends.preview.pictures import ControlFrames, blend_keyframes, draw_control, draw_subjects
from storyboard.typography.drawing import draw_line, line_extent, text_patch
from storyboard.plan.data import FrameCond, Plan, ShotPlan


class PreviewBackend:
    """Renders animatic frames from the plan alone."""

    name = "preview"
    version = "4"  # 2: m:ss.mmm timecodes; 3: Noto fonts for every script; 4: prompt patterns, a prompt box
    # the disc keeps clear of, one header and prompt box in a crossfade. Shots with images, subjects or
    # control videos (drawn since) have keys of their own (their media), so the version stays.

    def __init__(self) -> None:
        self.controls: dict[tuple[str, str], ControlFrames] = {}  # control videos being read, by path and checksum

    def render_shot(self, plan: Plan, shot: ShotPlan) -> Iterator[np.ndarray]:
        try:
            for offset, cond in enumerate(shot.frames):
                yield self.frame(plan, shot, shot.start + offset, cond)
        finally:
            self.close()  # the shot's control videos are read to its end, or not at all

    def close(self) -> None:
        for reader in self.controls.values():
            reader.close()
        self.controls.clear()

    def pictures(self, image: Image.Image, plan: Plan, shot: ShotPlan, frame: int, top: int) -> Image.Image:
        """``image`` with the shot's media drawn for ``frame`` (:mod:`storyboard.backends.preview.pictures`):
        its start image or keyframe faded in around its frame, the subjects in view as thumbnails down the
        right edge and the control video inset at the upper left, both from ``top`` pixels down."""
        image = blend_keyframes(image, plan, shot, frame)
        draw_subjects(image, plan, shot, frame, top)
        draw_control(image, plan, shot, frame, top, self.controls)
        return image

    def frame(self, plan: Plan, shot: ShotPlan, frame: int, cond: FrameCond) -> np.ndarray:
        """One animatic frame (H x W x 3, uint8)."""
        w, h = plan.width, plan.height
        top_a, bottom_a = prompt_colours(plan.prompts[cond.a])
        top_b, bottom_b = prompt_colours(plan.prompts[cond.b])
        top = top_a + (top_b - top_a) * cond.w
        bottom = bottom_a + (bottom_b - bottom_a) * cond.w
        ramp = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
        column = top[None, :] * (1 - ramp) + bottom[None, :] * ramp  # (h, 3), linear light
        column = column * (1.0 + 0.6 * cond.pulse)
        srgb = np.clip(column, 0, 1) ** (1 / 2.2)
        # Times the prompts' pattern (in sRGB: the gamma of a product is the product of the
        # gammas), in 16-bit integers: grey level g stands for the factor g / TEXTURE_SCALE, and
        # g x round(c x 128 / TEXTURE_SCALE) >> 7 is c x g / TEXTURE_SCALE, to a level.
        shade = np.round(srgb * 255 * 128 / TEXTURE_SCALE).astype(np.uint16)
        texture = _texture(plan.prompts[cond.a], plan.prompts[cond.b], cond.w, w, h)
        pixels = np.empty((h, w, 3), dtype=np.uint8)
        for c in range(3):  # a channel at a time: contiguous, about three times faster than broadcasting
            channel = texture * shade[:, c:c + 1]
            channel >>= 7
            np.minimum(channel, 255, out=channel)
            pixels[:, :, c] = channel
        image = Image.fromarray(pixels)
        draw = ImageDraw.Draw(image, "RGBA")
        box = text_box(w, h)

        # A disc drifting through the shot above the prompt box (never over its text):
        # continuous within a shot, restarts at a cut.
        t = (frame - shot.start) / plan.fps
        phase = (shot.index * 1.7) % (2 * math.pi)
        r = min(w, h) * (0.08 + 0.05 * cond.pulse)
        cx = w * (0.5 + 0.3 * math.sin(0.9 * t + phase))
        cy = min(h * (0.32 + 0.08 * math.sin(1.3 * t + 2 * phase)), box[1] - r - 2)
        disc = tuple(int(255 * min(1.0, c ** (1 / 2.2) * 1.4 + 0.15)) for c in top)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(*disc, 200))

        scene = plan.scenes[cond.scene]
        small, big = max(10, h // 32), max(12, h // 20)
        if not shot.media.empty:  # its pictures: keyframes at their frames, subjects, the control video
            image = self.pictures(image, plan, shot, frame, 2 * small + 4)
            draw = ImageDraw.Draw(image, "RGBA")
        gliding = cond.a != cond.b and 0 < cond.w < 1
        if crossfade_share(plan, shot, frame) >= 0.5:  # in a crossfade only the side more than half seen
            header = f"{scene.id}  shot {shot.index}  {plan.timecode(frame)}  frame {frame}"
            if shot.media.continues:
                header += f"  continues shot {shot.index - 1}"
            if gliding:
                header += f"  glide {cond.w:.0%}"
            # The header changes every frame: one plain text draw, no wrapping or caching.
            draw.rectangle((0, 0, int(line_extent(header, small)) + 2 * small, 2 * small), fill=(0, 0, 0, 150))
            draw_line(draw, (small, small // 4), header, small, fill=(255, 255, 255))
            if gliding:
                text = f"{plan.prompts[cond.a]}  >>  {plan.prompts[cond.b]}"
            else:
                text = plan.prompts[cond.a] if cond.w < 0.5 else plan.prompts[cond.b]
            draw.rectangle(box, fill=(0, 0, 0, 110))
            lines, fits = 5, box[3] - box[1]
            patch = text_patch(text, big, box[2] - box[0] - 2 * small, lines, True)
            while patch.height > fits and lines > 1:  # as many lines as the box holds (the rest elided)
                lines -= 1
                patch = text_patch(text, big, box[2] - box[0] - 2 * small, lines, True)
            x = (box[0] + box[2]) // 2 - patch.width // 2
            y = max(box[1], (box[1] + box[3]) // 2 - patch.height // 2)
            image.paste(patch, (max(0, x), y), mask=patch)

        # Scene progress and glide weight bars, beat lamp.
        bar_h = max(3, h // 120)
        progress = (frame - scene.start + 1) / scene.frames
        draw.rectangle((0, h - bar_h, int(w * progress), h), fill=(255, 255, 255, 180))
        if cond.a != cond.b:
            draw.rectangle((0, h - 3 * bar_h, int(w * cond.w), h - 2 * bar_h), fill=(255, 210, 80, 220))
        if cond.pulse > 0.01:
            lamp = int(small * (1 + cond.pulse))
            cx, cy = w - 2 * small - lamp, small + lamp
            draw.ellipse((cx - lamp, cy - lamp, cx + lamp, cy + lamp), fill=(255, 255, 255, int(255 * cond.pulse)))
        return np.asarray(image)


def text_box(width: int, height: int) -> tuple[int, int, int, int]:
    """The prompt box (left, top, right, bottom pixels): the lower part of the frame, where the
    disc never goes."""
    return int(0.06 * width), int(0.58 * height), int(0.94 * width), int(0.95 * height)


def crossfade_share(plan: Plan, shot: ShotPlan, frame: int) -> float:
    """How much of ``frame`` of ``shot`` the video shows: 1 outside crossfades; in one, the
    incoming shot's weight (its first frames) or the outgoing's (its handle, past its end)."""
    for t in plan.transitions:
        if t.kind != "crossfade" or not t.start <= frame < t.start + t.frames:
            continue
        weight = float(t.weights[frame - t.start])
        if t.start == shot.start:
            return weight
        if frame >= shot.end:
            return 1.0 - weight - 1e-9  # at exactly half, the incoming side's text is the one drawn
    return 1.0


TEXTURE_SCALE = 200  # a pattern's factor f is stored as the grey level f x 200 (f <= 1.275)


def _texture(a: str, b: str, weight: float, width: int, height: int) -> np.ndarray:
    """The prompts' patterns blended by ``weight`` of ``b``: grey levels (factor x TEXTURE_SCALE),
    H x W uint16."""
    if a == b or weight <= 0:
        return _prompt_texture(a, width, height)
    if weight >= 1:
        return _prompt_texture(b, width, height)
    k = np.uint16(round(256 * weight))
    return (_prompt_texture(a, width, height) * (np.uint16(256) - k) + _prompt_texture(b, width, height) * k) >> 8


@functools.lru_cache(maxsize=16)
def _prompt_texture(prompt: str, width: int, height: int) -> np.ndarray:
    """:func:`prompt_pattern` as grey levels (factor x TEXTURE_SCALE), H x W uint16, read-only."""
    grey = np.round(prompt_pattern(prompt, width, height) * TEXTURE_SCALE).clip(0, 255).astype(np.uint16)
    grey.setflags(write=False)
    return grey


def prompt_pattern(prompt: str, width: int, height: int) -> np.ndarray:
    """A brightness factor (H x W, sRGB, about 0.65 to 1.27) derived from the prompt's text alone:
    bands at an angle, spacing and depth, plus rings about a centre, each read from a hash of
    the text (different prompts look different; the same prompt always the same)."""
    digest = hashlib.blake2b(prompt.encode(), digest_size=8).digest()
    angle = digest[0] / 255 * math.pi
    spacing = (0.06 + 0.2 * digest[1] / 255) * max(width, height)
    rings = (0.05 + 0.15 * digest[2] / 255) * max(width, height)
    cx, cy = width * digest[3] / 255, height * digest[4] / 255
    depth, ring_depth = 0.15 + 0.2 * digest[5] / 255, 0.1 + 0.15 * digest[6] / 255
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    bands = np.sin(2 * np.pi * (x * math.cos(angle) + y * math.sin(angle)) / spacing)
    circles = np.sin(2 * np.pi * np.hypot(x - cx, y - cy) / rings)
    return (np.maximum(1.0 + depth * bands + ring_depth * circles, 0.0) ** (1 / 2.2)).astype(np.float32)
