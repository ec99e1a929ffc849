"""A plan as a readable timeline table (what ``storyboard plan`` prints)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from storyboard.plan.data import Plan, ShotPlan
from storyboard.words import plural

if TYPE_CHECKING:
    from storyboard.backends.registry import Family


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def timeline_table(plan: Plan, style: str = "") -> str:
    """One row a scene, then a summary of shots, windows and denoiser cost."""
    def strip(p: str) -> str:
        return p[: -len(style) - 2] if style and p.endswith(", " + style) else p

    transitions = {t.into: t for t in plan.transitions}
    spoken = {n.scene: n for n in plan.narration}
    rows = [("#", "scene", "start", "end", "frames", "shot", "transition", "prompts")]
    for s in plan.scenes:
        tr = transitions.get(s.index)
        how = "start" if tr is None else tr.kind if tr.kind == "cut" else f"{tr.kind} {tr.frames}f {tr.curve}"
        prompts = " \u2192 ".join(_short(strip(plan.prompts[p]), 28) for p in s.prompts)
        extra = []
        if s.hold:
            extra.append(f"hold {plan.timecode(s.hold[0])}-{plan.timecode(s.hold[1])}")
        if s.caption:
            extra.append(f'caption "{_short(s.caption, 24)}"')
        if s.index in spoken:
            n = spoken[s.index]
            extra.append(f"voice {plan.timecode(round(n.offset_s * plan.fps))}, {n.duration_s:.1f} s, "
                         f"{plural(len(n.sentences), 'sentence')}")
        if abs(s.snapped_s) > 1e-6:
            extra.append(f"synced {s.snapped_s * 1000:+.0f} ms")
        if extra:
            prompts += "  [" + "; ".join(extra) + "]"
        rows.append((str(s.index), s.id, plan.timecode(s.start), plan.timecode(s.end), str(s.frames), str(s.shot), how, prompts))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]) - 1)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths)) + "  " + r[-1] for r in rows]
    lines.insert(1, "-" * min(120, max(len(l) for l in lines)))
    window = plan.model.window
    evals = sum((e - s) for shot in plan.shots for s, e in shot.windows)
    rendered = sum(shot.length for shot in plan.shots)
    tempo = f", tempo {plan.tempo['bpm']:g} BPM ({plan.tempo['source']})" if plan.tempo else ""
    lines.append("")
    lines.append(
        f"{plan.title or 'untitled'}: {plural(plan.total_frames, 'frame')}, {plan.duration_s:.3f} s at {plan.fps} fps, "
        f"{plan.width}x{plan.height}{tempo}"
    )
    if plan.narration:
        words = sum(len(x[0].split()) for n in plan.narration for x in n.sentences)
        lines.append(f"narration: {sum(n.duration_s for n in plan.narration):.1f} s of speech, {plural(words, 'word')}, "
                     f"{plural(len(plan.captions), 'caption cue')}; music ducks {plan.mix.duck_db:g} dB under it")
    latent = latent_summary(plan)
    if latent:
        lines.append(latent)
    else:
        lines.append(
            f"{plural(len(plan.shots), 'shot')}, {plural(sum(len(s.windows) for s in plan.shots), 'window')} of "
            f"{plural(window.frames, 'frame')} "
            f"(overlap {window.overlap}): {evals / max(1, rendered):.2f} denoiser frame-evaluations per frame; "
            f"model {plan.model.id}"
        )
    return "\n".join(lines + conditioning_lines(plan))


def latent_summary(plan: Plan) -> str | None:
    """For a model that compresses time or has a native rate (Wan, LTX): its native fps, the native
    and latent frames the shots take, and the windows in latent frames. None for other models."""
    from storyboard.backends.latents import shot_latents
    from storyboard.backends.registry import FAMILIES
    from storyboard.backends.sources import model_timing

    family, timing = model_timing(plan.model.id)
    if timing is None or (timing.ratio == 1 and timing.native_fps is None):
        return None
    mapped = [shot_latents(s, plan.fps, timing, plan.model.window.overlap) for s in plan.shots]
    windows = sum(len(m.windows) for m in mapped)
    evaluations = sum(e - s for m in mapped for s, e in m.windows)
    rendered = sum(s.length for s in plan.shots)
    if FAMILIES[family].sampling == "forcing":  # diffusion forcing: chunks with history and their calls, per shot
        from storyboard.backends.forcing import describe_chunks

        per_shot = "".join(f"\n  shot {s.index}: {describe_chunks(m.windows, plan.model.steps)}"
                           for s, m in zip(plan.shots, mapped))
        return (f"model {plan.model.id} ({family}): renders at {timing.native_fps:g} fps, shown at {plan.fps} fps; "
                f"{plural(len(plan.shots), 'shot')}, {plural(sum(m.native for m in mapped), 'native frame')}, "
                f"{plural(sum(m.latent for m in mapped), 'latent frame')}, made by diffusion forcing in chunks of up "
                f"to {plural(timing.clip_latents, 'latent frame')}, each after the first carrying "
                f"{plan.model.window.overlap} of history: {evaluations / max(1, rendered):.2f} latent-frame "
                f"evaluations per output frame{per_shot}")
    if timing.chunked:  # an autoregressive family: chunks one after another, each reading the history it keeps
        history = FAMILIES[family].history
        kept = (f"; each chunk reads {plural(sum(history), 'latent frame')} of history "
                f"({' + '.join(str(h) for h in history)}) and its shot's first" if history else "")
        return (f"model {plan.model.id} ({family}): renders at {timing.native_fps:g} fps, shown at {plan.fps} fps; "
                f"{plural(len(plan.shots), 'shot')}, {plural(sum(m.native for m in mapped), 'native frame')} in "
                f"{plural(windows, 'chunk')} of {timing.clip_frames} frames ({timing.clip_latents} latent frames, "
                f"decoded alone; {plural(timing.decoded_frames(sum(m.latent for m in mapped)), 'frame')} made){kept}: "
                f"{evaluations / max(1, rendered):.2f} latent-frame evaluations per output frame"
                + "".join(f"\n  shot {s.index}: {plural(len(m.windows), 'chunk')} ({plural(m.latent, 'latent frame')}, "
                          f"{plural(timing.decoded_frames(m.latent), 'native frame')} made, {m.native} used); "
                          f"{len(m.windows) * plan.model.steps} denoiser calls at {plan.model.steps} steps"
                          for s, m in zip(plan.shots, mapped)))
    return (f"model {plan.model.id} ({family}): renders at {timing.native_fps:g} fps, shown at {plan.fps} fps; "
            f"{plural(len(plan.shots), 'shot')}, {plural(sum(m.native for m in mapped), 'native frame')}, "
            f"{plural(sum(m.latent for m in mapped), 'latent frame')} ({timing.ratio} frames each, the first alone); "
            f"{plural(windows, 'window')} of up to {plural(timing.clip_latents, 'latent frame')} "
            f"(overlap {plan.model.window.overlap}): "
            f"{evaluations / max(1, rendered):.2f} latent-frame evaluations per output frame")


def conditioning_lines(plan: Plan) -> list[str]:
    """Per shot with images, subjects, control videos, a continued cut or anchoring: which of them
    condition which frames (timecodes and frame numbers), and which of the model's windows hold
    each image. Empty for a plan without any."""
    shots = [s for s in plan.shots if not s.media.empty]
    if not shots:
        return []
    names = short_names(plan)
    holding = window_finder(plan)
    family = model_family(plan)
    subjects = {s.name: s for s in plan.subjects}
    lines = ["", "conditioning (frames are the video's):"]
    for shot in shots:
        media = shot.media
        anchor = f"{media.anchor:g}" if media.anchor is not None else "the family's default" if family is None \
            else f"{family.anchor_strength(None):g} ({family.name}'s default)"
        head = f"  shot {shot.index} ({plan.timecode(shot.start)}-{plan.timecode(shot.end)}, frames {shot.start}-" \
               f"{shot.end - 1}): anchoring {anchor}"
        lines.append(head + (f"; continues from shot {shot.index - 1}'s last frames" if media.continues else ""))
        for key in media.images:
            lines.append(f"    {key.role:<8} {names[key.path]} ({key.width}x{key.height}) on frame {key.frame} "
                         f"({plan.timecode(key.frame)}), {holding(shot, key.frame)}")
        for span in media.subjects:
            subject = subjects[span.name]
            pictures = ", ".join(names[i.path] for i in subject.images)
            lines.append(f"    subject  {span.name} ({pictures}) on frames {span.start}-{span.end - 1} "
                         f"({plan.timecode(span.start)}-{plan.timecode(span.end)})")
        for c in media.controls:
            lines.append(f"    control  {names[c.path]} ({c.kind}, {plural(c.source_frames, 'frame')} at "
                         f"{c.source_fps:g} fps): its frames {c.source_frame(c.start)}-{c.source_frame(c.end - 1)} "
                         f"on frames {c.start}-{c.end - 1}")
    return lines


def model_family(plan: Plan) -> "Family | None":
    """The registry's entry for the plan's model, None for the preview or a model not told apart."""
    if plan.model.id == "preview":
        return None
    from storyboard.backends.registry import FAMILIES
    from storyboard.backends.sources import model_timing

    return FAMILIES.get(model_timing(plan.model.id)[0] or "")


def short_names(plan: Plan) -> dict[str, str]:
    """Each media file's path as shown: relative to the folder they share (their file names, when in one)."""
    paths = {k.path for s in plan.shots for k in s.media.images} | {c.path for s in plan.shots for c in s.media.controls}
    paths |= {i.path for s in plan.subjects for i in s.images}
    if not paths:
        return {}
    common = os.path.commonpath([os.path.dirname(p) for p in paths])
    return {p: os.path.relpath(p, common) for p in paths}


def window_finder(plan: Plan):
    """``holding(shot, frame)``: the windows (or chunks) of the model that hold an output frame, in words.
    For a model that compresses time, through its latent frames (:mod:`storyboard.backends.latents`)."""
    from storyboard.backends.latents import LatentShot, shot_latents
    from storyboard.backends.sources import model_timing

    _, timing = model_timing(plan.model.id) if plan.model.id != "preview" else (None, None)
    mapped: dict[int, LatentShot] = {}

    def holding(shot: ShotPlan, frame: int) -> str:
        if timing is None or timing.keeps_plan_windows:
            found = [k for k, (s, e) in enumerate(shot.windows) if s <= frame < e]
            return f"window {found[0]}" if len(found) == 1 else f"windows {', '.join(map(str, found))}"
        if shot.index not in mapped:
            mapped[shot.index] = shot_latents(shot, plan.fps, timing, plan.model.window.overlap)
        latent = mapped[shot.index]
        native = latent.shown[frame - shot.start]
        at = next(k for k in range(latent.latent) if native in timing.frames_of(k))
        found = [k for k, (s, e) in enumerate(latent.windows) if s <= at < e]
        noun = "chunk" if timing.chunked else "window"
        return f"latent frame {at}, " + (f"{noun} {found[0]}" if len(found) == 1 else
                                         f"{noun}s {', '.join(map(str, found))}")

    return holding


def media_summary(plan: Plan) -> list[str]:
    """One line a file for each image and control video the plan reads, as ``validate`` reports them:
    an image's size in pixels; a control video's frames, rate and length."""
    names = short_names(plan)
    images = {k.path: (k.width, k.height) for s in plan.shots for k in s.media.images}
    images |= {i.path: (i.width, i.height) for s in plan.subjects for i in s.images}
    controls = {c.path: c for s in plan.shots for c in s.media.controls}
    lines = [f"image {names[p]}: {w}x{h}" for p, (w, h) in sorted(images.items())]
    lines += [f"control video {names[p]}: {plural(c.source_frames, 'frame')} at {c.source_fps:g} fps "
              f"({c.source_frames / c.source_fps:.3f} s)" for p, c in sorted(controls.items())]
    return lines
