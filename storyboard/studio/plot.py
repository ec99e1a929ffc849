"""The plan's picture on the page: ``storyboard plan --plot``'s timeline, and a lane for the narration.

The lanes of :func:`storyboard.plan.plot.plot_plan` (waveform and onsets, beats and bars,
scenes, prompt weights, pulse) with, when the script speaks, one more under them: each
sentence of the voice as a span where it is spoken, labelled with its first words.
Written atomically into the studio's own folder, one file a script.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from storyboard.drawing import font
from storyboard.plan.plot import (
    BACKGROUND,
    GRID,
    INK,
    MARGIN,
    Canvas,
    plot_plan,
    prompt_colour,
    save_png,
)

if TYPE_CHECKING:
    from storyboard.plan.data import Plan
    from storyboard.script.load import Script

VOICE_LANE = 54  # pixels


def plan_picture(script: "Script", plan: "Plan", folder: Path, name: str) -> Path:
    """Draw ``plan`` (with its music and narration) to ``folder/<a name for the script>.png``; its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (hashlib.sha1(name.encode()).hexdigest()[:16] + ".png")
    plot_plan(script, plan, path)
    if plan.narration:
        add_voice_lane(plan, path)
    return path


def add_voice_lane(plan: "Plan", path: Path) -> None:
    """Extend the picture at ``path`` with the narration's lane: a span a sentence, in its scene's colour."""
    from PIL import Image, ImageDraw

    with Image.open(path) as drawn:
        above = drawn.convert("RGB")
    image = Image.new("RGB", (above.width, above.height + VOICE_LANE), BACKGROUND)
    image.paste(above, (0, 0))
    canvas = Canvas(plan, image, ImageDraw.Draw(image), font(12))
    top = above.height
    canvas.draw.text((6, top + 18), "voice", font=canvas.small, fill=INK)
    canvas.draw.line((MARGIN, top + 2, MARGIN + canvas.span, top + 2), fill=GRID)
    label = font(10)
    for spoken in plan.narration:
        colour = prompt_colour(plan.scenes[spoken.scene].prompts[0])
        for k, (text, start_s, end_s) in enumerate(spoken.sentences):
            left, right = canvas.x_of(start_s * plan.fps), canvas.x_of(end_s * plan.fps)
            shade = 0.55 if k % 2 == 0 else 0.35
            fill = tuple(int(c * shade + 255 * (1 - shade)) for c in colour)
            canvas.draw.rectangle((left, top + 10, max(left + 1, right), top + VOICE_LANE - 12), fill=fill)
            words = _fit(text, right - left - 6, label)
            if words:
                canvas.draw.text((left + 3, top + 14), words, font=label, fill=INK)
    save_png(image, path)


def _fit(text: str, width: float, face) -> str:
    """As many of ``text``'s first words as fit in ``width`` pixels (with an ellipsis when cut)."""
    words = text.split()
    for n in range(len(words), 0, -1):
        shown = " ".join(words[:n]) + ("" if n == len(words) else "\u2026")
        if face.getlength(shown) <= width:
            return shown
    return ""
