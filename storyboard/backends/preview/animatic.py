"""The preview backend: an animatic that shows timing before any GPU time is spent.

Each frame is a colour field derived from its prompts (similar prompts, similar
colours: a prompt's colour is the mean of its words' colours, with colour words
taking their own colour), blended by the interpolation weight, with the prompt
text, scene id, timecode and beat pulse drawn over it. A drifting disc moves
continuously within a shot and restarts at a cut, so continuity is visible.
No torch; numpy and Pillow only.
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np
from PIL import Image, ImageDraw

from storyboard.backends.preview.colours import prompt_colours
from storyboard.drawing import draw_line, line_extent, paste_text
from storyboard.plan.data import FrameCond, Plan, ShotPlan


class PreviewBackend:
    """Renders animatic frames from the plan alone."""

    name = "preview"
    version = "3"  # 2: timecodes drawn as m:ss.mmm; 3: Noto fonts with fallback for every script

    def render_shot(self, plan: Plan, shot: ShotPlan) -> Iterator[np.ndarray]:
        for offset, cond in enumerate(shot.frames):
            yield self.frame(plan, shot, shot.start + offset, cond)

    def close(self) -> None:
        pass

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
        column8 = np.ascontiguousarray((srgb * 255).astype(np.uint8)[:, None, :])
        image = Image.fromarray(column8).resize((w, h), Image.Resampling.NEAREST)
        draw = ImageDraw.Draw(image, "RGBA")

        # A disc drifting through the shot: continuous within a shot, restarts at a cut.
        t = (frame - shot.start) / plan.fps
        phase = (shot.index * 1.7) % (2 * math.pi)
        cx = w * (0.5 + 0.3 * math.sin(0.9 * t + phase))
        cy = h * (0.45 + 0.2 * math.sin(1.3 * t + 2 * phase))
        r = min(w, h) * (0.08 + 0.05 * cond.pulse)
        disc = tuple(int(255 * min(1.0, c ** (1 / 2.2) * 1.4 + 0.15)) for c in top)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(*disc, 200))

        scene = plan.scenes[cond.scene]
        small, big = max(10, h // 32), max(12, h // 20)
        gliding = cond.a != cond.b and 0 < cond.w < 1
        header = f"{scene.id}  shot {shot.index}  {plan.timecode(frame)}  frame {frame}"
        if gliding:
            header += f"  glide {cond.w:.0%}"
        # The header changes every frame: one plain text draw, no wrapping or caching.
        draw.rectangle((0, 0, int(line_extent(header, small)) + 2 * small, 2 * small), fill=(0, 0, 0, 150))
        draw_line(draw, (small, small // 4), header, small, fill=(255, 255, 255))
        if gliding:
            text = f"{plan.prompts[cond.a]}  >>  {plan.prompts[cond.b]}"
        else:
            text = plan.prompts[cond.a] if cond.w < 0.5 else plan.prompts[cond.b]
        paste_text(image, text, (w // 2, h // 2), big, max_width=int(w * 0.8), anchor="mm", max_lines=5)

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
