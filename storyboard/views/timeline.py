"""A plan as a readable timeline table (what ``storyboard plan`` prints)."""

from __future__ import annotations

from storyboard.plan.data import Plan
from storyboard.words import plural


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
    return "\n".join(lines)


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
