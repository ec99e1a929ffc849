"""The spine: a script file becomes a checked plan, then an MP4, in five steps.

1. :func:`load`: read and validate the script (every shape error kept), with command-line overrides.
2. :func:`gather`: what the plan needs from outside the script: each music track probed, each
   narration spoken (or found in the speech cache), and the first track's beats (librosa only
   when the script uses beats and the track is new).
3. :func:`compile_gathered`: the pure compiler (:func:`storyboard.plan.compile.compile_plan`) on the
   script and what was gathered, with captions paged by the installed fonts
   (:class:`storyboard.typography.pager.CaptionPager`); then the checks that need a plan (the
   model against this machine and the output size) and the warnings. :func:`plan_script` is steps 2 and 3.
4. :func:`check_outputs`: the files a render writes, refused before any work if writing them
   could lose something the user has.
5. :func:`render`: the plan's segments rendered (here, or on a Ray cluster) and the MP4 assembled.

The command line, the studio and the farm call these steps; none reads another's printed text.
Errors about the script are :class:`~storyboard.errors.ScriptErrors` located in its source;
errors about the command's own arguments are :class:`~storyboard.errors.UsageError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from storyboard.errors import PlanError, ScriptError, ScriptErrors, UsageError

if TYPE_CHECKING:
    from storyboard.media.gather import Media
    from storyboard.music.timing import MusicTiming
    from storyboard.plan.data import Plan
    from storyboard.plan.narration import SpeechTiming
    from storyboard.render.orchestrate import RenderResult
    from storyboard.render.outputs import Inputs, Outputs
    from storyboard.script.load import Script


@dataclass(frozen=True)
class Planned:
    """A compiled plan and the warnings met on the way (each a sentence, without the file's name)."""

    plan: "Plan"
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Gathered:
    """What planning needs from outside the script (step 2).

    ``script``: with each ``duration: auto`` resolved from its speech, and the problems met while
    gathering added to its own. ``speech``: each narrated scene's speech by scene index. ``timing``:
    the first music track's beats in video seconds (None when the script uses no beats).
    ``music_lengths``: each track's file length in seconds (0 when it could not be probed).
    ``media``: the images and control videos the script names, probed (none when it names none)."""

    script: "Script"
    speech: Mapping[int, "SpeechTiming"] = field(default_factory=dict)
    timing: "MusicTiming | None" = None
    music_lengths: tuple[float, ...] = ()
    warnings: tuple[str, ...] = ()
    media: "Media | None" = None


# --- 1. load ---------------------------------------------------------------------------------


def load(path: str | Path, *, sha256: str | None = None, model: str | None = None, output: str | None = None,
         **model_fields: object) -> "Script":
    """The script at ``path``, loaded with every shape error kept (:attr:`Script.problems`), with the
    command line's overrides applied (``model``: ``model.id``; ``output``: ``output.path``; the rest:
    fields of ``model``, None for those not given).

    ``sha256``: the script must be exactly the text that was checked (its bytes are read once, hashed
    and parsed); otherwise :class:`UsageError`, as for a file that cannot be read."""
    from storyboard.script.load import load_script, with_overrides

    loaded = load_script(path, keep_going=True) if sha256 is None else _load_exactly(Path(path), sha256)
    return with_overrides(loaded, model=model, output=output, **model_fields)


def _load_exactly(path: Path, sha256: str) -> "Script":
    """The script at ``path`` if its bytes hash to ``sha256``; else UsageError (it changed since it was checked)."""
    import hashlib

    from storyboard.script.load import load_script_text

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None
    if hashlib.sha256(data).hexdigest() != sha256.strip().lower():
        raise UsageError(f"{path} changed after it was checked (its SHA-256 is not {sha256}): not rendered; check "
                         "it again and render that")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return load_script_text(text, str(path), keep_going=True)


# --- 2. gather ---------------------------------------------------------------------------------


def gather(script: "Script", *, analyse: bool = True, show_progress: bool = True) -> Gathered:
    """Probe each music track and each image and control video, speak each narration, and find the
    first track's beats when the script uses them (``analyse`` off: only from the analysis cache). Speaking shows progress on
    stderr when it is long, unless ``show_progress`` is off.

    Raises :class:`ScriptErrors` when planning cannot go on (the beats' track is unusable), with
    every problem found so far; other problems join the returned script's own."""
    from storyboard.media.gather import probe_media_files
    from storyboard.music.timing import probe_music_files
    from storyboard.plan.narration import with_auto_durations
    from storyboard.voice.scene_speech import speak_scenes

    script, lengths = probe_music_files(script)
    script, media = probe_media_files(script)
    spoken = speak_scenes(script, show_progress=show_progress)
    script = replace(script, problems=script.with_problems(spoken.errors).errors)
    script = with_auto_durations(script, spoken.speech)
    timing = _beats_of(script, analyse)
    return Gathered(script, spoken.speech, timing, tuple(lengths), tuple(spoken.warnings) + _music_warnings(script, timing),
                    media)


def _beats_of(script: "Script", analyse: bool) -> "MusicTiming | None":
    """The first music track's beats on the video's timeline, or None when the script uses none;
    an unreadable track is a :class:`ScriptErrors` at its ``path``."""
    from storyboard.music.timing import music_timing, needs_beat_grid

    board = script.storyboard
    if not board.music or not needs_beat_grid(board):
        return None
    try:
        return music_timing(script, analyse_if_needed=analyse)
    except Exception as exc:  # unreadable audio: say which file
        doc = script.document
        raise script.with_problems([doc.error(f"cannot analyse '{board.music[0].path}': {type(exc).__name__}: "
                                              f"{exc}", doc.resolve(("music", 0, "path")))]) from None


def _music_warnings(script: "Script", timing: "MusicTiming | None") -> tuple[str, ...]:
    """What to tell the user about the beats' analysis: gaps, an unclear pulse, a close call between
    two tempi, and a ``bpm:`` that the music overrides."""
    if timing is None:
        return ()
    from storyboard.music.advice import plan_advice

    board, a = script.storyboard, timing.analysis
    name = board.music[0].path
    warnings = plan_advice(a, name)
    if a.confident and a.close_call:
        warnings.append(
            f"music '{name}': tempo {a.tempo_bpm:.1f} BPM was a close call ({a.runner_up_bpm:.1f} "
            f"BPM also fits); beats and bars follow {a.tempo_bpm:.1f} BPM. To choose, set bpm: on the music "
            f"track: bpm: {a.runner_up_bpm:.0f} for the other, bpm: {a.tempo_bpm:.0f} to keep this one."
        )
    if board.bpm is not None:
        warnings.append(f"bpm: {board.bpm:g} is ignored: beats follow the music ({a.tempo_bpm:.1f} BPM)")
    return tuple(warnings)


# --- 3. compile --------------------------------------------------------------------------------


def plan_script(script: "Script", *, analyse: bool = True, show_progress: bool = True) -> Planned:
    """Steps 2 and 3: gather what the script needs and compile its plan (see :func:`gather`).

    Raises :class:`ScriptErrors` located in the script's source, with the errors the script was
    loaded with (:attr:`Script.problems`): a script with any never yields a plan."""
    return compile_gathered(gather(script, analyse=analyse, show_progress=show_progress))


def compile_gathered(gathered: Gathered) -> Planned:
    """The plan of the gathered script, checked against the model it names; with every warning."""
    from storyboard.plan.captions import drawn_texts, pace_warnings
    from storyboard.plan.compile import compile_plan
    from storyboard.plan.warnings import music_end_warnings, sync_warnings
    from storyboard.typography.glyphs import glyph_warnings
    from storyboard.typography.pager import CaptionPager

    script, timing = gathered.script, gathered.timing
    board, pager = script.storyboard, CaptionPager()
    try:
        if timing is None:
            plan = compile_plan(script, speech=gathered.speech, pager=pager, media=gathered.media)
        else:
            plan = compile_plan(script, timing.grid, timing.onset_strength, timing.snap_points, gathered.speech,
                                pager, gathered.media)
    except PlanError as exc:
        raise script.plan_errors(exc) from None
    script = replace(script, problems=script.with_problems(model_size_errors(script)
                                                           + model_conditioning_errors(script, plan)
                                                           + missing_image_errors(script, plan)).errors)
    script.check()
    warnings = list(gathered.warnings)
    warnings += sync_warnings(board, plan, timing.snap_points if timing else None)
    warnings += music_end_warnings(board, plan, list(gathered.music_lengths))
    warnings += pace_warnings(plan) + glyph_warnings(drawn_texts(board, plan))
    if board.model.id != "preview":
        from storyboard.backends.model_checks import model_warnings

        warnings += model_warnings(board.model.id, board.model.revision)
    return Planned(plan, tuple(warnings))


def model_size_errors(script: "Script") -> list[ScriptError]:
    """The model ``model.id`` names against this machine and the output size, before torch is
    imported (:func:`storyboard.backends.model_checks.model_problems`: a near miss of a built-in name, a
    missing folder, a hub id not cached while offline, a pipeline no family drives, and the size
    rule), located at ``model.id`` or ``output.width`` / ``output.height``. The family checks the
    size again, with the same rule and words, when it loads the model."""
    from storyboard.backends.model_checks import model_problems

    board, doc = script.storyboard, script.document
    written = doc.data.get("model") if isinstance(doc.data, dict) else None
    written = written.get("id") if isinstance(written, dict) else written
    errors = []
    for p in model_problems(board.model.id, board.output.width, board.output.height, board.model.revision):
        if p.field == "id" and written != board.model.id:  # the id came from --model: no line of the script to show
            errors.append(ScriptError(f"--model {p.message}", file=doc.file))
        else:
            errors.append(doc.error(p.message, doc.resolve(("model", "id") if p.field == "id" else ("output", p.field))))
    return errors


def model_conditioning_errors(script: "Script", plan: "Plan") -> list[ScriptError]:
    """An error at each scene field asking the model for conditioning its family does not take (start
    images, last-frame images, keyframes, subjects, control videos, continued cuts), naming the families
    and checkpoints that can (:func:`storyboard.backends.model_checks.refused_conditioning`)."""
    asks = conditioning_asked(script, plan)
    if not asks:
        return []
    from storyboard.backends.model_checks import refused_conditioning

    board, doc = script.storyboard, script.document
    refused = refused_conditioning(board.model.id, frozenset(word for _, word in asks), board.model.revision)
    return [doc.error(refused[word], doc.resolve(loc)) for loc, word in asks if word in refused]


def missing_image_errors(script: "Script", plan: "Plan") -> list[ScriptError]:
    """For an image-to-video model (:attr:`~storyboard.backends.registry.Family.needs_image`), an error at
    the first scene of each shot that has no image to animate (no start image, keyframe or last image)."""
    from storyboard.backends.model_checks import image_needed

    board, doc = script.storyboard, script.document
    needed = image_needed(board.model.id, board.model.revision)
    if needed is None:
        return []
    return [doc.error(needed, doc.resolve(("scenes", shot.scenes[0], "prompts")))
            for shot in plan.shots if not shot.media.images]


def conditioning_asked(script: "Script", plan: "Plan") -> list[tuple[tuple, str]]:
    """Where the plan asks the model for more than prompts and pulses: (the scene field, the
    registry's word for it), once a field and word, in scene order."""
    board, asks = script.storyboard, {}
    for shot in plan.shots:
        for key in shot.media.images:
            scene = board.scenes[key.scene]
            written_start = scene.image is not None and key.frame == plan.scenes[key.scene].start
            word = "image" if key.role == "start" else "last_image" if key.role == "last" else "keyframes"
            asks[("scenes", key.scene, "image" if written_start else "keyframes"), word] = None
        if shot.media.continues:
            asks[("scenes", shot.scenes[0], "continue"), "continue"] = None
    for i, scene in enumerate(board.scenes):
        if scene.subjects:
            asks[("scenes", i, "subjects"), "references"] = None
        if scene.control is not None:
            asks[("scenes", i, "control"), "control"] = None
    return sorted(asks, key=lambda a: (a[0][1], a[0][2]))


# --- 4. check outputs --------------------------------------------------------------------------


def check_outputs(script: "Script", plan: "Plan", *, cache_dir: str | Path | None = None,
                  chosen_by_user: bool = False, force: bool = False) -> "Outputs":
    """The render's outputs (:mod:`storyboard.render.outputs`), refused before any work if writing
    them could lose something.

    ``chosen_by_user``: the video path came from ``-o`` on the command line, so it may leave
    the script's folder, and problems are the user's (:class:`UsageError`, exit 2), not the
    script's (located). ``force`` (``--force``): an existing file storyboard did not write may be
    replaced."""
    from storyboard.render.outputs import output_problems, plan_outputs

    outputs = plan_outputs(plan, cache_dir)
    problems = output_problems(outputs, script_inputs(script, plan), None if chosen_by_user else script.folder,
                               chosen_by_user=chosen_by_user, force=force)
    if problems and (chosen_by_user or cache_dir is not None and all("segment cache" in p for p in problems)):
        raise UsageError("; ".join(problems))
    if problems:
        doc = script.document
        raise ScriptErrors([doc.error(p, doc.resolve(("output", "path"))) for p in problems])
    return outputs


def script_inputs(script: "Script", plan: "Plan") -> "Inputs":
    """Every file and folder a render of ``script`` reads: the script, its music, its voices (the
    ``.onnx`` and its ``.onnx.json``), speech in the cache, its images and control videos, and a local
    model folder."""
    from storyboard.render.outputs import Inputs, local_model_folder

    board = script.storyboard
    files = {"the script": script.path, **{f"music track {k + 1}": Path(t.path) for k, t in enumerate(plan.audio)},
             **{f"scene {n.scene + 1}'s speech": Path(n.path) for n in plan.narration}}
    voices = [("the voice", board.voice.voice)]
    voices += [(f"scene {k + 1}'s voice", s.narration.voice) for k, s in enumerate(board.scenes)
               if s.narration is not None and s.narration.voice]
    for what, name in voices:
        if name.endswith(".onnx"):
            model = script.resolve(name)
            files[what] = model
            files[f"{what}'s config"] = model.with_name(model.name + ".json")
    folders = {}
    from storyboard.script.media import media_references

    for ref in media_references(board):  # images, control videos and folders of frames
        path = script.resolve(ref.text)
        (folders if path.is_dir() else files)[f"{ref.noun} '{ref.text}'"] = path
    model = local_model_folder(plan.model.id)
    if model is not None:
        folders["the model folder"] = model
    return Inputs(files, folders)


# --- 5. render ---------------------------------------------------------------------------------


def render(plan: "Plan", *, quiet: bool = False, cache_dir: str | Path | None = None, ray: str | None = None,
           workers: int | None = None) -> "RenderResult":
    """Render ``plan``'s missing segments and assemble its MP4 at ``plan.output``'s path.

    ``ray``: render the shots on a Ray cluster instead of here (``"local"``: a private one on this
    machine, else ``HOST:PORT``), with ``workers`` workers. Ctrl-C raises
    :class:`storyboard.render.orchestrate.Interrupted`, with the finished segments kept."""
    if ray:
        from storyboard.farm import render_plan_on_ray

        return render_plan_on_ray(plan, quiet=quiet, cache_dir=cache_dir, workers=workers,
                                  address=None if ray == "local" else ray)
    from storyboard.render import render_plan

    return render_plan(plan, quiet=quiet, cache_dir=cache_dir)
