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
