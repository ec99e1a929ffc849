"""Where a render writes, and the checks that keep it off everything the user already has.

A script's own ``output.path`` stays inside the script's folder, so a script from
someone else cannot write anywhere else; a path the user gives with ``-o`` on the
command line may go wherever they choose. Either way, before any work, a target is
refused when:

- it resolves to an input the script names (the script, a music track, a voice's
  ``.onnx`` or its ``.onnx.json``, speech in the cache), or lies inside a local model
  folder, a segment cache or the studio's own folder (``.storyboard-studio``; only
  ``-o`` may aim into its ``previews/``, as the studio's previews do);
- it is an existing folder or anything that is not a regular file (``/dev/null`` stays
  a device), or the subtitles would land on the video;
- it is an existing file that storyboard did not write (a video without storyboard's
  mark, see :func:`storyboard.files.written_by_storyboard`): that is replaced only with
  ``-o`` or ``--force``. Subtitles count as storyboard's when the video beside them is.

The segment cache may not lie inside a model folder, an input or the studio's folder either.
The pipeline (:func:`storyboard.pipeline.check_outputs`) lists the script's inputs and turns these
problems into errors.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from storyboard.files import written_by_storyboard
from storyboard.plan.data import Plan

CACHE_NAME = ".storyboard-cache"
STUDIO_NAME = ".storyboard-studio"  # the studio's own files (see storyboard.studio.folder)


def default_cache(video: Path) -> Path:
    """The segment cache beside the video: ``<video's folder>/.storyboard-cache``."""
    return video.parent / CACHE_NAME


SUBTITLE_FORMATS = {"srt": ("srt",), "vtt": ("vtt",), "both": ("srt",), "all": ("srt", "vtt")}  # by output.captions


def subtitles_path(video: Path, kind: str = "srt") -> Path:
    """Where the subtitles of ``video`` go: beside it, ``.srt`` (or ``.vtt``)."""
    return video.with_suffix("." + kind)


def subtitle_files(plan: Plan, video: Path) -> tuple[Path, ...]:
    """The subtitle files a render of ``plan`` to ``video`` writes (none without captions)."""
    kinds = SUBTITLE_FORMATS.get(plan.output.captions, ())
    return tuple(subtitles_path(video, k) for k in kinds) if plan.captions else ()


def burns_captions(plan: Plan) -> bool:
    """Whether captions are drawn into the picture (``burn``, ``both`` or ``all``)."""
    return plan.output.captions in ("burn", "both", "all")


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
    video = Path(plan.output.path)
    return Outputs(video, subtitle_files(plan, video), Path(cache_dir) if cache_dir else default_cache(video))


@dataclass(frozen=True)
class Inputs:
    """What a render reads, which no output may replace: ``files`` by what they are
    (``{"the script": ..., "music track 1": ...}``) and ``folders`` whose every file is an input
    (``{"the model folder": ...}``)."""

    files: dict[str, Path]
    folders: dict[str, Path]


def output_problems(outputs: Outputs, inputs: Inputs | dict[str, Path], confine_to: Path | None = None, *,
                    chosen_by_user: bool = False, force: bool = False) -> list[str]:
    """Why these outputs must not be written (empty when they may).

    ``inputs``: the files (and folders) the render reads. ``confine_to``: the folder a script's
    own output must stay in (None for ``-o``). ``chosen_by_user``: the video's path came from
    ``-o``; with it or ``force`` an existing file storyboard did not write may be replaced.
    """
    if not isinstance(inputs, Inputs):
        inputs = Inputs(dict(inputs), {})
    may_replace = chosen_by_user or force
    problems = _target_problems("the video", outputs.video, inputs, outputs.cache, confine_to, chosen_by_user)
    if not may_replace and _foreign(outputs.video):
        problems.append(f"the video would replace {outputs.video}, which storyboard did not write (it is not a "
                        "video with storyboard's mark): pass --force to replace it, or choose another output path")
    video_ours = written_by_storyboard(outputs.video) if outputs.video.is_file() else False
    for subtitles in outputs.subtitles:
        problems += _target_problems("the subtitles", subtitles, inputs, outputs.cache, confine_to, chosen_by_user)
        if _same(outputs.video, subtitles):
            problems.append(f"the subtitles ({subtitles}) would be written over the video: give the video a "
                            ".mp4 name, or set output.captions to burn or none")
        elif not may_replace and subtitles.is_file() and not video_ours:
            problems.append(f"the subtitles would replace {subtitles}, which storyboard did not write (no video of "
                            "storyboard's is beside it): pass --force to replace it, or choose another output path")
    problems += _cache_problems(outputs.cache, inputs)
    return problems


def _foreign(target: Path) -> bool:
    """Whether ``target`` is an existing regular file that storyboard did not write."""
    return target.is_file() and not written_by_storyboard(target)


def _target_problems(what: str, target: Path, inputs: Inputs, cache: Path, confine_to: Path | None,
                     chosen_by_user: bool) -> list[str]:
    problems = []
    resolved = target.resolve()
    if confine_to is not None and not resolved.is_relative_to(confine_to.resolve()):
        problems.append(f"{what} would be written to {target}, outside the script's folder ({confine_to}); a script "
                        "writes only inside its folder: to write elsewhere, pass -o on the command line")
    if target.is_dir():
        problems.append(f"{what} would replace {target}, which is a folder: name a file")
    elif target.exists() and not target.is_file():
        problems.append(f"{what} would replace {target}, which is not a regular file (a device, pipe or socket)")
    for name, source in inputs.files.items():
        if _same(target, source):
            problems.append(f"{what} would be written over {name} ({source}): choose another output path")
    for name, folder in inputs.folders.items():
        if resolved.is_relative_to(folder.resolve()):
            problems.append(f"{what} would be written inside {name} ({folder}): choose another output path")
    inside = next((folder for folder in resolved.parents
                   if folder.name == CACHE_NAME or (folder / "CACHEDIR.TAG").is_file()), None)
    if resolved.is_relative_to(cache.resolve()) or inside is not None:
        problems.append(f"{what} would be written inside a cache folder ({inside or cache}), whose files are deleted "
                        "by pruning: choose another output path")
    studio = _studio_folder(resolved)
    if studio is not None and not (chosen_by_user and resolved.is_relative_to(studio / "previews")):
        problems.append(f"{what} would be written inside the studio's own folder ({studio}), which the studio serves "
                        "and keeps its files in: choose another output path")
    return problems


def _cache_problems(cache: Path, inputs: Inputs) -> list[str]:
    """Why the segment cache may not live at ``cache``: inside a model folder, on an input, or in the
    studio's own folder (other than its previews')."""
    resolved = cache.resolve()
    problems = [f"the segment cache ({cache}) would be written inside {name} ({folder}): choose another output "
                "path, or --cache" for name, folder in inputs.folders.items() if resolved.is_relative_to(folder.resolve())]
    problems += [f"the segment cache ({cache}) would be written over {name} ({source}): choose another --cache"
                 for name, source in inputs.files.items() if _same(cache, source)]
    studio = _studio_folder(resolved)
    if studio is not None and not resolved.is_relative_to(studio / "previews"):
        problems.append(f"the segment cache ({cache}) would be written inside the studio's own folder ({studio}): "
                        "choose another output path, or --cache")
    return problems


def _studio_folder(resolved: Path) -> Path | None:
    """The studio's own folder (``.storyboard-studio``) that ``resolved`` lies in, if any."""
    return next((folder for folder in [resolved, *resolved.parents] if folder.name == STUDIO_NAME), None)


def _same(a: Path, b: Path) -> bool:
    """Whether two paths name one file (after symbolic links; hard links too when both exist)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def local_model_folder(model_id: str) -> Path | None:
    """The folder ``model_id`` names, as the loader reads it (relative to the current folder), if it is one."""
    if not model_id or model_id == "preview":
        return None
    local = Path(model_id).expanduser()
    return local if local.is_dir() else None
