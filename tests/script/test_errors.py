"""Every class of script error: file:line:col, field path, what was expected, exit 2, nothing written."""

from __future__ import annotations

import os

import pytest
from helpers import run_cli, write

from storyboard.cli import main

GOOD_SCENE = """\
  - id: a
    duration: 2s
    prompts: a red room
"""

CASES = {
    "bad-yaml": (
        "scenes:\n  - id: a\n    duration: [2s\n",
        ["invalid YAML", ":4:1"],
    ),
    "unknown-field": (
        "scenes:\n  - id: a\n    duration: 2s\n    promts: a red room\n",
        [":4:5", "scenes[0].promts", "unknown field 'promts'", "did you mean 'prompts'?"],
    ),
    "unknown-top-field": (
        "titel: x\nscenes:\n" + GOOD_SCENE,
        [":1:1", "titel", "did you mean 'title'?"],
    ),
    "wrong-type": (
        "output: {width: wide}\nscenes:\n" + GOOD_SCENE,
        [":1:17", "output.width", "expected a valid integer", "'wide'"],
    ),
    "negative-duration": (
        "scenes:\n  - id: a\n    duration: -2s\n    prompts: x\n",
        [":3:15", "scenes[0].duration", "negative", "expected a time such as 6s"],
    ),
    "zero-duration": (
        "scenes:\n  - id: a\n    duration: 0\n    prompts: x\n",
        [":3:15", "scenes[0].duration", "greater than zero"],
    ),
    "prompt-after-end": (
        "scenes:\n  - id: a\n    duration: 2s\n    prompts:\n      - {at: 0, text: x}\n      - {at: 3s, text: y}\n",
        [":6:14", "scenes[0].prompts[1].at", "after the scene ends", "2.000s"],
    ),
    "unknown-transition": (
        "scenes:\n" + GOOD_SCENE + "  - id: b\n    duration: 2s\n    prompts: x\n    transition: {type: crosfade}\n",
        [":8:24", "scenes[1].transition.type", "unknown value 'crosfade'", "cut, crossfade, morph", "did you mean 'crossfade'?"],
    ),
    "missing-audio": (
        "music: {path: nowhere.ogg}\nscenes:\n" + GOOD_SCENE,
        [":1:15", "music.path", "audio file 'nowhere.ogg' does not exist"],
    ),
    "duplicate-scene-id": (
        "scenes:\n" + GOOD_SCENE + GOOD_SCENE,
        [":5:9", "scenes[1].id", "duplicate scene id 'a'", "also scenes[0]"],
    ),
    "duplicate-key": (
        "title: one\ntitle: two\nscenes:\n" + GOOD_SCENE,
        [":2:1", "duplicate key 'title'", "first at line 1"],
    ),
    "object-tag": (
        "title: !!python/object/apply:os.system [echo hacked]\nscenes:\n" + GOOD_SCENE,
        [":1:8", "YAML tag '!!python/object/apply:os.system' is not allowed"],
    ),
    "beats-without-tempo": (
        "scenes:\n  - id: a\n    duration: 8 beats\n    prompts: x\n",
        [":3:15", "scenes[0].duration", "'8 beats' needs a tempo", "bpm"],
    ),
    "unquoted-comma": (
        "scenes:\n  - duration: 2\n    prompts:\n      - {at: 0, text: a, b}\n",
        [":4:26", "unknown field 'b'", "put text with commas in quotes"],
    ),
    "empty-file": ("", ["the script is empty"]),
    "not-a-mapping": ("- just\n- a list\n", ["expected a mapping of fields at the top level"]),
    "overlap-too-big": (
        "model: {window: {frames: 8, overlap: 8}}\nscenes:\n" + GOOD_SCENE,
        [":1:17", "model.window", "overlap (8) must be smaller than frames (8)"],
    ),
    "music-start-in-beats": (
        "music: {path: bad.yaml, start: 4 beats}\nscenes:\n" + GOOD_SCENE,
        [":1:32", "music.start", "written in seconds or frames"],
    ),
    "morph-first-scene": (
        "scenes:\n  - duration: 2\n    prompts: x\n    transition: morph\n",
        [":4:17", "scenes[0].transition.type", "nothing to morph from"],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_error_names_file_line_field_and_expectation(tmp_path, capsys, name):
    text, expected = CASES[name]
    script = write(tmp_path / "bad.yaml", text)
    out = tmp_path / "out.mp4"
    code = main(["render", str(script), "-o", str(out), "--model", "preview"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith(f"{script}:") or err.startswith(str(script)), err
    for piece in expected:
        assert piece in err, f"{piece!r} not in:\n{err}"
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"], "nothing may be written"


def test_validate_exits_2_and_points_at_the_line_with_a_caret(tmp_path):
    script = write(tmp_path / "bad.yaml", CASES["unknown-transition"][0])
    result = run_cli("validate", str(script))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[1].strip().startswith("8 |") and "crosfade" in lines[1]
    caret = lines[2].index("^")
    assert lines[1][caret:].startswith("crosfade")


def test_existing_output_is_not_touched(tmp_path, capsys):
    script = write(tmp_path / "bad.yaml", CASES["unknown-field"][0])
    out = tmp_path / "out.mp4"
    out.write_bytes(b"previous render")
    os.utime(out, (1_000_000, 1_000_000))
    assert main(["render", str(script), "-o", str(out)]) == 2
    assert out.read_bytes() == b"previous render"
    assert out.stat().st_mtime == 1_000_000


def test_json_syntax_error_has_line_and_column(tmp_path, capsys):
    script = write(tmp_path / "bad.json", '{\n  "scenes": [\n    {"duration": 2,, "prompts": "x"}\n  ]\n}\n')
    assert main(["validate", str(script)]) == 2
    err = capsys.readouterr().err
    assert f"{script}:3:20: error: invalid JSON" in err


def test_json_errors_are_located_like_yaml(tmp_path, capsys):
    script = write(tmp_path / "bad.json", '{\n  "scenes": [\n    {"duration": 2, "prompts": "x",\n     "transition": "fade"}\n  ]\n}\n')
    assert main(["validate", str(script)]) == 2
    err = capsys.readouterr().err
    assert ":4:20: error: scenes[0].transition" in err and "'fade'" in err


def test_all_errors_reported_at_once(tmp_path, capsys):
    script = write(tmp_path / "bad.yaml", "scenes:\n  - duration: -1\n    prompts: x\n  - duration: 2\n    promts: y\n")
    assert main(["validate", str(script)]) == 2
    err = capsys.readouterr().err
    assert "scenes[0].duration" in err and "scenes[1].promts" in err and "scenes[1].prompts: missing" in err
    assert err.rstrip().endswith("3 errors")


def test_missing_script_file(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_yes_and_no_stay_strings(tmp_path, capsys):
    script = write(tmp_path / "ok.yaml", "title: no\nscenes:\n  - duration: 1\n    prompts: yes\n")
    assert main(["plan", str(script), "--json"]) == 0
    out = capsys.readouterr().out
    assert '"title": "no"' in out and '"yes"' in out


SEVEN_MISTAKES = """\
title: seven
output: {fps: 24, width: 1366, colour: red}
scenes:
  - id: intro
    duration: 4s
    transition: {type: wipe}
    prompts: a dawn
  - id: intro
    duration: 3s
    prompts:
      - {at: 0s, text: noon}
      - {at: 2s, text: dusk}
    hold: {at: 1s, duration: 2s}
  - id: end
    duration: -2s
    prompts: night
    caption: {text: hello, at: 5s}
  - id: last
    duration: 2s
    prompts: stars
    caption: {text: bye, at: 3s}
music: {path: nothere.wav}
"""


def test_mistakes_of_every_kind_are_reported_in_one_round(tmp_path, capsys):
    """Shape (3 fields, one a negative duration), meaning (a duplicate id, a missing file) and
    timing (a hold over a glide, a caption past its scene's end): all seven in one report.
    The caption in the scene whose duration is wrong is not blamed: that is an echo of the repair."""
    script = write(tmp_path / "s.yaml", SEVEN_MISTAKES)
    assert main(["validate", str(script)]) == 2
    err = capsys.readouterr().err
    found = [line.split(": error: ")[1].split(":")[0] for line in err.splitlines() if ": error: " in line]
    assert found == ["output.width", "output.colour", "scenes[0].transition.type", "scenes[1].id", "scenes[1].hold",
                     "scenes[2].duration", "scenes[3].caption.at", "music.path"]
    assert err.rstrip().endswith("8 errors")
    assert "scenes[2].caption" not in err
    for said in ("not a multiple of 8", "unknown field 'colour'", "unknown value 'wipe'", "duplicate scene id 'intro'",
                 "overlaps a prompt glide", "negative", "the caption starts after the scene ends", "does not exist"):
        assert said in err


def test_render_and_plan_report_the_same_single_round(tmp_path, capsys):
    script = write(tmp_path / "s.yaml", SEVEN_MISTAKES)
    assert main(["validate", str(script)]) == 2
    validated = capsys.readouterr().err
    assert main(["plan", str(script)]) == 2
    assert capsys.readouterr().err == validated
    assert main(["render", str(script), "--model", "preview"]) == 2
    assert capsys.readouterr().err == validated
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


def test_a_repaired_script_never_plans(tmp_path):
    """The library keeps its contract: load_script raises by default, and a script loaded with
    keep_going and carrying problems raises in plan_script instead of giving a plan."""
    from storyboard.errors import ScriptErrors
    from storyboard.pipeline import plan_script
    from storyboard.script.load import load_script

    script = write(tmp_path / "s.yaml", "output: {fps: 0}\nscenes:\n  - {duration: 2s, prompts: a}\n")
    with pytest.raises(ScriptErrors) as raised:
        load_script(script)
    assert [e.path for e in raised.value.errors] == [("output", "fps")]
    repaired = load_script(script, keep_going=True)
    assert repaired.storyboard.output.fps == 24 and len(repaired.problems) == 1
    with pytest.raises(ScriptErrors) as raised:
        plan_script(repaired)
    assert [e.path for e in raised.value.errors] == [("output", "fps")]


def test_a_script_that_cannot_be_repaired_reports_its_shape(tmp_path, capsys):
    """A bad list item cannot be dropped without renumbering what follows: only shape errors."""
    script = write(tmp_path / "s.yaml", "scenes:\n  - 7\n  - {duration: 2s, prompts: a, caption: {text: x, at: 9s}}\n")
    assert main(["validate", str(script)]) == 2
    err = capsys.readouterr().err
    assert "scenes[0]" in err and "caption" not in err
