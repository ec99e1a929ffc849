"""Where a render writes, and the checks that keep it off everything the user already has.

A script's own ``output.path`` stays inside the script's folder, so a script from
someone else cannot write anywhere else; a path the user gives with ``-o`` on the
command line may go wherever they choose. Either way, before any work, a target is
refused when it resolves to an input (the script, a music track, a file in the
cache), to an existing folder or anything that is not a regular file (``/dev/null``
stays a device), or when the subtitles would land on the video.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from storyboard.errors import ScriptErrors, UsageError
from storyboard.plan.data import Plan

if TYPE_CHECKING:
    from storyboard.script.load import Script

CACHE_NAME = ".storyboard-cache"


def default_cache(video: Path) -> Path:
    """The segment cache beside the video: ``<video's folder>/.storyboard-cache``."""
    return video.parent / CACHE_NAME


SUBTITLE_FORMATS = {"srt": ("srt",), "vtt": ("vtt",), "both": ("srt",), "all": ("srt", "vtt")}  # by output.captions


def subtitles_path(video: Path, kind: str = "srt") -> Path:
    """Where the subtitles of ``video`` go: beside it, ``.srt`` (or ``.vtt``)."""
    return video.with_suffix("." + kind)


def subtitle_files(plan: Plan, video: Path) -> tuple[Path, ...]:
    """The subtitle files a render of ``plan`` to ``video`` writes (none without captions)."""
    kinds = SUBTITLE_FORMATS.get(plan.output.get("captions", "srt"), ())
    return tuple(subtitles_path(video, k) for k in kinds) if plan.captions else ()


def burns_captions(plan: Plan) -> bool:
    """Whether captions are drawn into the picture (``burn``, ``both`` or ``all``)."""
    return plan.output.get("captions") in ("burn", "both", "all")


@dataclass(frozen=True)
class Outputs:
    """The files a render writes (``subtitles``: .srt and/or .vtt, maybe none) and the cache it fills."""

    video: Path
    subtitles: tuple[Path, ...]
    cache: Path

    def describe(self) -> str:
        subs = "".join(f" and {p}" for p in self.subtitles)
        return f"writes {self.video}{subs} (cache {self.cache})"


def plan_outputs(plan: Plan, cache_dir: str | Path | None = None) -> Outputs:
    """The files rendering ``plan`` writes."""
    video = Path(plan.output["path"])
    return Outputs(video, subtitle_files(plan, video), Path(cache_dir) if cache_dir else default_cache(video))


def output_problems(outputs: Outputs, inputs: dict[str, Path], confine_to: Path | None = None) -> list[str]:
    """Why these outputs must not be written (empty when they may).

    ``inputs`` names each file the render reads (``{"the script": ..., "music track 1": ...}``).
    ``confine_to``: the folder a script's own output must stay in (None for ``-o``).
    """
    problems = []
    for what, target in [("the video", outputs.video), *(("the subtitles", p) for p in outputs.subtitles)]:
        problems += _target_problems(what, target, inputs, outputs.cache, confine_to)
    for subtitles in outputs.subtitles:
        if _same(outputs.video, subtitles):
            problems.append(f"the subtitles ({subtitles}) would be written over the video: give the video a "
                            ".mp4 name, or set output.captions to burn or none")
    return problems


def _target_problems(what: str, target: Path, inputs: dict[str, Path], cache: Path, confine_to: Path | None) -> list[str]:
    problems = []
    resolved = target.resolve()
    if confine_to is not None and not resolved.is_relative_to(confine_to.resolve()):
        problems.append(f"{what} would be written to {target}, outside the script's folder ({confine_to}); a script "
                        "writes only inside its folder: to write elsewhere, pass -o on the command line")
    if target.is_dir():
        problems.append(f"{what} would replace {target}, which is a folder: name a file")
    elif target.exists() and not target.is_file():
        problems.append(f"{what} would replace {target}, which is not a regular file (a device, pipe or socket)")
    for name, source in inputs.items():
        if _same(target, source):
            problems.append(f"{what} would be written over {name} ({source}): choose another output path")
    inside = next((folder for folder in resolved.parents
                   if folder.name == CACHE_NAME or (folder / "CACHEDIR.TAG").is_file()), None)
    if resolved.is_relative_to(cache.resolve()) or inside is not None:
        problems.append(f"{what} would be written inside a cache folder ({inside or cache}), whose files are deleted "
                        "by pruning: choose another output path")
    return problems


def _same(a: Path, b: Path) -> bool:
    """Whether two paths name one file (after symbolic links; hard links too when both exist)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_outputs(script: "Script", plan: Plan, *, cache_dir: str | Path | None = None,
                  chosen_by_user: bool = False) -> Outputs:
    """The render's outputs, refused before any work if writing them could lose something.

    ``chosen_by_user``: the video path came from ``-o`` on the command line, so it may leave
    the script's folder, and problems are the user's (exit 2), not the script's (located).
    """
    outputs = plan_outputs(plan, cache_dir)
    inputs = {"the script": script.path, **{f"music track {k + 1}": Path(t.path) for k, t in enumerate(plan.audio)},
              **{f"scene {n.scene + 1}'s speech": Path(n.path) for n in plan.narration}}
    problems = output_problems(outputs, inputs, None if chosen_by_user else script.folder)
    if problems and chosen_by_user:
        raise UsageError("; ".join(problems))
    if problems:
        doc = script.document
        raise ScriptErrors([doc.error(p, doc.resolve(("output", "path"))) for p in problems])
    return outputs
