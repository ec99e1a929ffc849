"""``storyboard plan --plot``: the timeline as a picture a person can check at a glance.

Lanes, top to bottom: the music's waveform with its onset envelope; beat ticks (bars
taller); scenes as coloured spans with their ids, boundaries as lines (a dot where
sync moved one); each prompt's weight over time (0 to 1), with a legend of the prompts'
colours; the beat pulse; and, when the
script speaks, the voice: a span a sentence where it is spoken, labelled with its first
words. Drawn with Pillow, written atomically as PNG.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from storyboard.typography.drawing import font
from storyboard.plan.data import Plan
from storyboard.words import plural

WIDTH, MARGIN = 1600, 70
LANES = {"wave": 130, "beats": 30, "scenes": 60, "weights": 170, "pulse": 50}
VOICE_LANE = 54  # pixels, only when the plan has narration
LEGEND_ROW, LEGEND_PER_ROW, LEGEND_MAX_ROWS, LEGEND_LABEL = 20, 4, 3, 48  # pixels, entries, rows, characters
BACKGROUND, INK, GRID = (250, 250, 248), (30, 30, 30), (205, 205, 200)


def prompt_colour(index: int) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb((index * 0.618034) % 1.0, 0.65, 0.85)
    return int(r * 255), int(g * 255), int(b * 255)


@dataclass
class Canvas:
    """The picture being drawn, and where frame numbers fall on it (pixels)."""

    plan: Plan
    image: Image.Image
    draw: ImageDraw.ImageDraw
    small: object

    @property
    def span(self) -> int:
        return WIDTH - 2 * MARGIN

    @property
    def total(self) -> int:
        return max(1, self.plan.total_frames)

    def x_of(self, frame: float) -> float:
        return MARGIN + self.span * frame / self.total


@dataclass(frozen=True)
class LegendItem:
    """One prompt's entry in the weights lane's legend: its index, label and the swatch's box (pixels)."""

    prompt: int
    label: str
    box: tuple[int, int, int, int]


@dataclass
class Picture:
    """The drawn timeline, and the legend it carries (what :func:`draw_timeline` writes)."""

    image: Image.Image
    legend: list[LegendItem]


def draw_timeline(plan: Plan, path: str | Path, *, audio: np.ndarray | None = None, audio_rate: int = 0,
                  envelope: np.ndarray | None = None, envelope_rate: float = 0.0, bar_frames: tuple[int, ...] = (),
                  style: str = "") -> Path:
    """Draw ``plan`` (and the music's samples and onset envelope, in video time) to a PNG, lane by lane.
    ``style``: the script's style, left out of the legend's prompt labels."""
    picture = timeline_picture(plan, audio=audio, audio_rate=audio_rate, envelope=envelope,
                               envelope_rate=envelope_rate, bar_frames=bar_frames, style=style)
    return save_png(picture.image, Path(path))


def timeline_picture(plan: Plan, *, audio: np.ndarray | None = None, audio_rate: int = 0,
                     envelope: np.ndarray | None = None, envelope_rate: float = 0.0, bar_frames: tuple[int, ...] = (),
                     style: str = "") -> Picture:
    """The timeline as a picture: the lanes of :func:`draw_timeline`, and the legend of the prompt weights."""
    voice = VOICE_LANE if plan.narration else 0
    entries = legend_entries(plan, style)
    legend_h = LEGEND_ROW * legend_rows(entries)
    image = Image.new("RGB", (WIDTH, sum(LANES.values()) + legend_h + voice + 60), BACKGROUND)
    canvas = Canvas(plan, image, ImageDraw.Draw(image), font(12))
    canvas.draw.text((MARGIN, 8), f"{plan.title or 'storyboard'}: {plan.duration_s:.2f} s, {plural(plan.total_frames, 'frame')} at "
                     f"{plan.fps} fps" + (f", {plan.tempo['bpm']:.2f} BPM ({plan.tempo['source']})" if plan.tempo else ""),
                     font=font(14), fill=INK)
    y = 30
    draw_music(canvas, y, audio, audio_rate, envelope, envelope_rate)
    y += LANES["wave"]
    draw_beats(canvas, y, set(bar_frames))
    y += LANES["beats"]
    draw_scenes(canvas, y)
    y += LANES["scenes"]
    draw_weights(canvas, y)
    y += LANES["weights"]
    legend = draw_legend(canvas, y, entries)
    y += legend_h
    draw_pulse(canvas, y)
    y += LANES["pulse"]
    if voice:
        draw_voice(canvas, y)
        y += voice
    draw_time_axis(canvas, y)
    return Picture(image, legend)


def legend_entries(plan: Plan, style: str = "") -> list[tuple[int, str]]:
    """Each prompt the weights lane draws (the plan's prompts are in order of first use), with its text as the script wrote it
    (``style`` left out) and cut to :data:`LEGEND_LABEL` characters."""
    out = []
    for p, text in enumerate(plan.prompts):
        if style.strip() and text.endswith(", " + style):
            text = text[: -len(style) - 2]
        out.append((p, text if len(text) <= LEGEND_LABEL else text[: LEGEND_LABEL - 1] + "\u2026"))
    return out


def legend_rows(entries: list[tuple[int, str]]) -> int:
    """Rows the legend takes (at most :data:`LEGEND_MAX_ROWS`; the rest are counted, not shown)."""
    return min(LEGEND_MAX_ROWS, max(1, -(-len(entries) // LEGEND_PER_ROW)))


def draw_legend(canvas: Canvas, top: int, entries: list[tuple[int, str]]) -> list[LegendItem]:
    """A swatch in each prompt's colour and its label, :data:`LEGEND_PER_ROW` a row under the weights."""
    shown = LEGEND_PER_ROW * LEGEND_MAX_ROWS
    if len(entries) > shown:
        entries = entries[: shown - 1]
    column = canvas.span // LEGEND_PER_ROW
    label = font(11)
    items = []
    for k, (p, text) in enumerate(entries):
        x, y = MARGIN + (k % LEGEND_PER_ROW) * column, top + (k // LEGEND_PER_ROW) * LEGEND_ROW + 4
        box = (x, y + 3, x + 14, y + 11)
        canvas.draw.rectangle(box, fill=prompt_colour(p))
        canvas.draw.text((x + 20, y), _fit(text, column - 26, label) or text[:1], font=label, fill=INK)
        items.append(LegendItem(p, text, box))
    hidden = len(canvas.plan.prompts) - len(items)
    if hidden > 0:
        k = len(items)
        x, y = MARGIN + (k % LEGEND_PER_ROW) * column, top + (k // LEGEND_PER_ROW) * LEGEND_ROW + 4
        canvas.draw.text((x, y), f"and {plural(hidden, 'more prompt')}", font=label, fill=(90, 90, 90))
    return items


def draw_music(canvas: Canvas, top: int, audio: np.ndarray | None, audio_rate: int,
               envelope: np.ndarray | None, envelope_rate: float) -> None:
    """The waveform (min/max per pixel column) and the onset envelope over it."""
    plan, draw, span, h = canvas.plan, canvas.draw, canvas.span, LANES["wave"]
    mid = top + h / 2
    draw.text((6, top), "music", font=canvas.small, fill=INK)
    if audio is not None and len(audio):
        columns = np.array_split(audio[: int(plan.duration_s * audio_rate)], span) if len(audio) >= span else []
        for i, column in enumerate(columns):
            if len(column):
                lo, hi = float(column.min()), float(column.max())
                draw.line((MARGIN + i, mid - hi * h / 2.2, MARGIN + i, mid - lo * h / 2.2), fill=(150, 170, 200))
    if envelope is not None and len(envelope):
        points = []
        for i in range(span):
            k = int(plan.duration_s * i / span * envelope_rate)
            if 0 <= k < len(envelope):
                points.append((MARGIN + i, top + h - envelope[k] * (h - 4)))
        if len(points) > 1:
            draw.line(points, fill=(220, 90, 40), width=1)


def draw_beats(canvas: Canvas, top: int, bars: set[int]) -> None:
    """A tick on each beat; bars taller."""
    h = LANES["beats"]
    canvas.draw.text((6, top + 8), "beats", font=canvas.small, fill=INK)
    for f in canvas.plan.beats:
        tall = f in bars
        canvas.draw.line((canvas.x_of(f), top + (2 if tall else h / 2), canvas.x_of(f), top + h - 2),
                         fill=INK if tall else (120, 120, 120))


def draw_scenes(canvas: Canvas, top: int) -> None:
    """Scenes as spans in their first prompt's colour, a red dot where sync moved a boundary,
    and transitions as dark bars along the bottom."""
    plan, draw, x_of, h = canvas.plan, canvas.draw, canvas.x_of, LANES["scenes"]
    draw.text((6, top + 20), "scenes", font=canvas.small, fill=INK)
    for s in plan.scenes:
        colour = prompt_colour(s.prompts[0])
        draw.rectangle((x_of(s.start), top + 4, x_of(s.end), top + h - 4),
                       fill=tuple(int(c * 0.35 + 255 * 0.65) for c in colour), outline=GRID)
        draw.text((x_of(s.start) + 4, top + 8), s.id, font=canvas.small, fill=INK)
        draw.text((x_of(s.start) + 4, top + 26), plan.timecode(s.start), font=font(10), fill=(90, 90, 90))
        if abs(s.snapped_s) > 1e-6:
            draw.ellipse((x_of(s.start) - 4, top - 4, x_of(s.start) + 4, top + 4), fill=(200, 40, 40))
    for t in plan.transitions:
        if t.frames:
            draw.rectangle((x_of(t.start), top + h - 12, x_of(t.start + t.frames), top + h - 4), fill=(60, 60, 60))


def draw_weights(canvas: Canvas, top: int) -> None:
    """Each prompt's weight over time: for each frame, prompt a has 1 - w, prompt b has w."""
    plan, draw, span, total, h = canvas.plan, canvas.draw, canvas.span, canvas.total, LANES["weights"]
    draw.text((6, top + 4), "prompt", font=canvas.small, fill=INK)
    draw.text((6, top + 18), "weights", font=canvas.small, fill=INK)
    draw.line((MARGIN, top + h - 4, WIDTH - MARGIN, top + h - 4), fill=GRID)
    draw.line((MARGIN, top + 4, WIDTH - MARGIN, top + 4), fill=GRID)
    series: dict[int, list[tuple[float, float]]] = {}
    step = max(1, total // span)
    for shot in plan.shots:
        for f in range(shot.start, shot.end, step):
            c = shot.cond(f)
            weights = {c.a: 1.0 - c.w}
            weights[c.b] = weights.get(c.b, 0.0) + c.w
            for p, w in weights.items():
                series.setdefault(p, []).append((canvas.x_of(f), top + h - 4 - w * (h - 8)))
    for p, pts in series.items():
        colour = prompt_colour(p)
        for a, b in zip(pts, pts[1:]):
            if b[0] - a[0] <= 2 * span / total * step + 1:
                draw.line((a, b), fill=colour, width=2)


def draw_pulse(canvas: Canvas, top: int) -> None:
    """The beat pulse, a bar per frame."""
    h = LANES["pulse"]
    canvas.draw.text((6, top + 14), "pulse", font=canvas.small, fill=INK)
    step = max(1, canvas.total // canvas.span)  # a long plan: a frame a pixel column, not every frame
    for shot in canvas.plan.shots:
        for f in range(shot.start, shot.end, step):
            p = shot.cond(f).pulse
            if p > 0.01:
                canvas.draw.line((canvas.x_of(f), top + h - 4, canvas.x_of(f), top + h - 4 - p * (h - 8)), fill=(120, 60, 160))


def draw_voice(canvas: Canvas, top: int) -> None:
    """The narration: a span a sentence, from where it starts to where it ends (seconds of video time),
    in its scene's first prompt's colour, alternately darker, with as many of its first words as fit."""
    plan = canvas.plan
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


def _fit(text: str, width: float, face) -> str:  # noqa: ANN001 (a Pillow font)
    """As many of ``text``'s first words as fit in ``width`` pixels (with an ellipsis when cut)."""
    words = text.split()
    for n in range(len(words), 0, -1):
        shown = " ".join(words[:n]) + ("" if n == len(words) else "\u2026")
        if face.getlength(shown) <= width:
            return shown
    return ""


def draw_time_axis(canvas: Canvas, y: int) -> None:
    """Minutes and seconds, at most about 20 labels."""
    plan = canvas.plan
    seconds = int(plan.duration_s)
    steps = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)
    every = next((s for s in steps if seconds / s <= 20), 7200 * -(-seconds // (7200 * 20)))
    for s in range(0, seconds + 1, every):
        x = canvas.x_of(s * plan.fps)
        canvas.draw.line((x, y + 2, x, y + 8), fill=INK)
        label = f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if seconds >= 3600 else f"{s // 60}:{s % 60:02d}"
        canvas.draw.text((x - 8, y + 10), label, font=font(10), fill=INK)


def save_png(image: Image.Image, path: Path) -> Path:
    """Write ``image`` to ``path`` atomically."""
    from storyboard.files import atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic(path, ".png") as tmp:
        image.save(tmp, format="PNG")
    return path


def plot_plan(script, plan: Plan, path: str | Path) -> Path:
    """Draw the plan with its first music track's waveform and onset envelope, if any."""
    audio, rate, envelope, env_rate = None, 0, None, 0.0
    board = script.storyboard
    if board.music:
        from storyboard.music.analysis import analyse, load_mono
        from storyboard.script.timecode import fixed_seconds

        track = board.music[0]
        fps = board.output.fps
        source = script.resolve(track.path)
        rate = 4000
        samples = load_mono(source, rate)
        shift = min(fixed_seconds(track.offset, fps), plan.duration_s) - fixed_seconds(track.start, fps)  # seconds
        lead = int(round(shift * rate))
        audio = np.concatenate([np.zeros(max(0, lead)), samples[max(0, -lead):]])
        analysis = analyse(source, bpm=track.bpm)
        env_rate = 1.0 / analysis.hop_s
        env = np.asarray(analysis.envelope)
        lead_env = int(round(shift * env_rate))
        envelope = np.concatenate([np.zeros(max(0, lead_env)), env[max(0, -lead_env):]])
    return draw_timeline(plan, path, audio=audio, audio_rate=rate, envelope=envelope, envelope_rate=env_rate,
                         bar_frames=plan.bars, style=board.style)
