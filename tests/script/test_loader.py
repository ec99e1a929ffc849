"""The script loader against hostile or surprising input: control characters, deep nesting,
JSON read as JSON, YAML 1.1's silent number coercions and implicit timestamps."""

from __future__ import annotations

import json

import pytest
from helpers import write

from storyboard import cli
from storyboard.cli import main
from storyboard.errors import ScriptErrors
from storyboard.script.load import load_script_text

SCENES = "scenes:\n  - duration: 2\n    prompts: a red room\n"


def _errors(text: str, name: str = "s.yaml") -> str:
    with pytest.raises(ScriptErrors) as info:
        load_script_text(text, name)
    return info.value.format()


def _validate(tmp_path, capsys, name: str, text: str, *more: str) -> tuple[int, str, str]:
    script = tmp_path / name
    script.write_text(text, encoding="utf-8")
    code = main(["validate", str(script), *more])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- 1. control characters ------------------------------------------------------------


@pytest.mark.parametrize(
    ("char", "named"),
    [("\x00", "U+0000 (NUL)"), ("\x1b", "U+001B (ESC)"), ("\x7f", "U+007F (DEL)"), ("\x80", "U+0080 (PAD)"),
     ("\x9f", "U+009F (APC)"), ("\ufffe", "U+FFFE (a noncharacter)")],
)
@pytest.mark.parametrize("suffix", ["yaml", "json"])
def test_control_character_is_a_located_error_naming_it(tmp_path, capsys, char, named, suffix):
    text = f"title: ab{char}c\n" + SCENES if suffix == "yaml" else '{"title": "ab' + char + 'c",\n "scenes": []}\n'
    code, _, err = _validate(tmp_path, capsys, f"s.{suffix}", text)
    assert code == 2, err
    col = 10 if suffix == "yaml" else 14
    assert f"s.{suffix}:1:{col}: error: {named} is not allowed in a script" in err, err
    assert "Traceback" not in err and "ReaderError" not in err


def test_every_control_character_is_reported_with_a_caret(tmp_path, capsys):
    code, _, err = _validate(tmp_path, capsys, "s.yaml", "title: a\x00\nscenes:\n  - duration: 2\n    prompts: xy\x07\n")
    assert code == 2
    assert ":1:9: error: U+0000 (NUL)" in err and ":4:16: error: U+0007 (BEL)" in err and err.rstrip().endswith("2 errors")
    lines = err.splitlines()
    assert lines[1].startswith("    1 | title: a") and lines[2].index("^") == len("    1 | title: a")


def test_a_form_feed_does_not_shift_the_lines_reported_after_it():
    err = _errors("title: a\x0cb\nscenes:\n  - duration: 2\n    prompts: x\x00\n")
    assert "s.yaml:1:9: error: U+000C (FF)" in err and "s.yaml:4:15: error: U+0000 (NUL)" in err, err


def test_nul_everywhere_suggests_utf16(tmp_path, capsys):
    code, _, err = _validate(tmp_path, capsys, "s.yaml", "\x00".join("title: x\n" + SCENES))
    assert code == 2 and "UTF-16" in err and "more" in err


# --- 2. deep nesting and validating many files --------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["title: " + "[" * 900 + "]" * 900 + "\n" + SCENES,
     "title: " + "[" * 900 + "\n",
     "title:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 900)) + SCENES,
     "title: " + "{a: " * 900 + "1" + "}" * 900 + "\n"],
)
def test_deep_nesting_is_a_located_error(tmp_path, capsys, text):
    code, _, err = _validate(tmp_path, capsys, "s.yaml", text)
    assert code == 2, err
    assert "more than 64 levels" in err and "s.yaml:" in err and "RecursionError" not in err


def test_deep_nesting_through_aliases_is_refused():
    chain = "a0: &a0 [x]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 900))
    assert "more than 64 levels" in _errors(chain + SCENES)


def test_recursive_alias_is_refused():
    assert "more than 64 levels" in _errors("title: &a [*a]\n" + SCENES)


def test_deep_json_is_a_located_error():
    err = _errors('{"title": ' + "[" * 900 + "]" * 900 + "}", "s.json")
    assert "s.json:1:" in err and "more than 64 levels" in err


def test_validate_reports_every_file_even_when_one_fails(tmp_path, capsys, monkeypatch):
    good = write(tmp_path / "a.yaml", SCENES)
    deep = write(tmp_path / "b.yaml", "title: " + "[" * 900 + "]" * 900 + "\n" + SCENES)
    odd = write(tmp_path / "c.yaml", SCENES)
    last = write(tmp_path / "d.yaml", SCENES)
    real = cli._load

    def load(path: str, *args, **kwargs):
        if path == str(odd):
            raise RuntimeError("something unexpected")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(cli, "_load", load)
    code = main(["validate", str(good), str(deep), str(odd), str(last)])
    captured = capsys.readouterr()
    assert code == 2
    assert f"{good}: ok" in captured.out and f"{last}: ok" in captured.out
    assert f"{deep}:1:" in captured.err and "more than 64 levels" in captured.err
    assert str(odd) in captured.err and "RuntimeError: something unexpected" in captured.err


# --- 3. JSON read as JSON -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "duration"),
    [('{"scenes": [{"duration": 2e0, "prompts": "x"}]}', 2.0),
     ('{"scenes": [{"duration": 2.4e1, "prompts": "x"}]}', 24.0),
     ('{"scenes": [{"duration": 25E-1, "prompts": "x"}]}', 2.5),
     ('{\n\t"scenes": [\n\t\t{\n\t\t\t"duration": 3,\n\t\t\t"prompts": "x"\n\t\t}\n\t]\n}\n', 3.0),
     ('\ufeff{"scenes": [{"duration": 4, "prompts": "x"}]}', 4.0)],
)
def test_valid_json_is_read_as_json(text, duration):
    assert load_script_text(text, "s.json").storyboard.scenes[0].duration.amount == duration


def test_json_dump_of_a_script_with_emoji_loads():
    data = {"title": "Clapper \U0001f3ac", "scenes": [{"duration": 2, "prompts": ["a \u00e9t\u00e9 \U0001f305", "night"]}]}
    text = json.dumps(data, indent="\t")
    assert "\\ud83c\\udfac" in text
    board = load_script_text(text, "s.json").storyboard
    assert board.title == "Clapper \U0001f3ac" and board.scenes[0].prompts[0].text == "a \u00e9t\u00e9 \U0001f305"


def test_json_bom_file_validates(tmp_path, capsys):
    code, out, err = _validate(tmp_path, capsys, "s.json", '\ufeff{"scenes": [{"duration": 2, "prompts": "x"}]}')
    assert code == 0, err
    assert "ok: 1 scene, " in out


def test_json_errors_locate_keys_and_values_after_tabs_and_escapes():
    text = '{\n\t"title": "\\ud83c\\udfac \\"q\\"",\n\t"scenes": [{"duration": 2, "prompts": "x", "curve": "wobbly"}]\n}\n'
    err = _errors(text, "s.json")
    assert "s.json:3:54: error: scenes[0].curve: unknown value 'wobbly'" in err, err
    err = _errors('{"scenes": [{"duration": 2, "prompts": "x",\n  "promts": 1}]}', "s.json")
    assert "s.json:2:3: error: scenes[0].promts: unknown field" in err, err


def test_json_duplicate_key_is_refused_and_located():
    err = _errors('{"title": "a",\n "scenes": [{"duration": 2, "prompts": "x"}],\n  "title": "b"}', "s.json")
    assert "s.json:3:3: error: title: duplicate key 'title' (first at line 1)" in err, err


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [('{"scenes": [1, 2,]}', "1:17", "trailing comma"),
     ('{"scenes": NaN}', "1:12", "Expecting value"),
     ('{"title": "\\ud83c", "scenes": []}', "1:11", "U+D83C"),
     ('{"title": "x"} {}', "1:16", "Extra data"),
     ('{"title": "x\n"}', "1:13", "Invalid control character"),
     ('{"title" "x"}', "1:10", "Expecting ':' delimiter"),
     ('{"title": "x\\q"}', "1:13", "Invalid \\escape"),
     ("{'title': 1}", "1:2", "Expecting property name enclosed in double quotes")],
)
def test_invalid_json_is_located(text, where, message):
    err = _errors(text, "s.json")
    assert f"s.json:{where}: error: invalid JSON" in err and message in err, err


def test_empty_json_says_so():
    assert "the script is empty" in _errors("  \n", "s.json")


# --- 4. YAML 1.1 coercions -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [("output: {fps: true}\n" + SCENES, "1:15", "output.fps: expected a number, got true"),
     ("model: {guidance: false}\n" + SCENES, "1:19", "model.guidance: expected a number, got false"),
     ("version: true\n" + SCENES, "1:10", "version: expected a number, got true"),
     ("scenes:\n  - duration: 010\n    prompts: x\n", "2:15",
      "scenes[0].duration: '010' is read by YAML as octal 8; write 10 (or '010' in quotes if you meant a string)"),
     ("scenes:\n  - duration: 0x10\n    prompts: x\n", "2:15", "scenes[0].duration: '0x10' is read by YAML as hexadecimal 16; write 16"),
     ("output: {fps: 0b11}\n" + SCENES, "1:15", "output.fps: '0b11' is read by YAML as binary 3; write 3"),
     ("model: {steps: 1_000}\n" + SCENES, "1:16", "model.steps: '1_000' is read by YAML as 1000; write 1000"),
     ("bpm: 1_20.5\n" + SCENES, "1:6", "bpm: '1_20.5' is read by YAML as 120.5; write 120.5"),
     ("model: {seed: 1:30}\n" + SCENES, "1:15", "model.seed: '1:30' is read by YAML as sexagesimal (base 60) 90; write 90"),
     ("scenes:\n  - duration: 1:30:00\n    prompts: x\n", "2:15", "scenes[0].duration: '1:30:00' is read by YAML as sexagesimal (base 60) 5400"),
     ("music: {path: a.ogg, offset: 010}\n" + SCENES, "1:30", "music.offset: '010' is read by YAML as octal 8"),
     ("scenes:\n  - duration: 20\n    prompts: [{at: 010, text: x}]\n", "3:20", "scenes[0].prompts[0].at: '010' is read by YAML as octal 8")],
)
def test_yaml_11_number_forms_are_refused_where_numbers_go(text, where, message):
    err = _errors(text)
    assert f"s.yaml:{where}: error: {message}" in err, err
    assert err.count("error:") == 1 or "music" in text, err


def test_a_json_boolean_where_a_number_goes_is_refused():
    err = _errors('{"output": {"fps": true},\n "scenes": [{"duration": 2, "prompts": "x"}]}', "s.json")
    assert "s.json:1:20: error: output.fps: expected a number, got true (a boolean)" in err, err


def test_a_refused_number_exits_2(tmp_path, capsys):
    code, _, err = _validate(tmp_path, capsys, "s.yaml", "scenes:\n  - duration: 010\n    prompts: x\n")
    assert code == 2 and "octal 8" in err


def test_quoted_and_plain_decimal_numbers_still_work():
    board = load_script_text("output: {fps: '010'}\nmodel: {seed: 0, steps: +7}\nscenes:\n  - duration: '010'\n    prompts: x\n").storyboard
    assert board.output.fps == 10 and board.model.steps == 7 and board.scenes[0].duration.amount == 10


@pytest.mark.parametrize(("written", "seconds"), [("1:30", 90), ("1:30.5", 90.5)])
def test_minutes_and_seconds_still_read_as_a_time(written, seconds):
    board = load_script_text(f"scenes:\n  - duration: {written}\n    prompts: x\n").storyboard
    assert board.scenes[0].duration.amount == seconds


def test_number_forms_stay_text_where_text_goes():
    text = ("title: 0x10\nstyle: 010\nmodel: 1_000\nscenes:\n  - duration: 2\n    prompts: [0b11, 1:30]\n"
            "    caption: 010\n  - duration: 2\n    prompts: 0o7\n    id: 1_0\n")
    board = load_script_text(text).storyboard
    assert (board.title, board.style, board.model.id) == ("0x10", "010", "1_000")
    assert [p.text for p in board.scenes[0].prompts] == ["0b11", "1:30"] and board.scenes[0].caption.text == "010"
    assert board.scenes[1].id == "1_0"


def test_yes_no_stay_strings_and_true_is_still_a_boolean():
    board = load_script_text("title: yes\nmodel: {offload: true}\nscenes:\n  - duration: 2\n    prompts: no\n    hold: true\n").storyboard
    assert board.title == "yes" and board.model.offload is True and board.scenes[0].prompts[0].text == "no"
    assert board.scenes[0].hold is not None


# --- 5. implicit timestamps --------------------------------------------------------------------


def test_dates_stay_text():
    text = "title: 2024-01-01\nscenes:\n  - duration: 2\n    prompts: 2001-12-14t21:59:43.10-05:00\n    caption: 2024-01-01\n"
    board = load_script_text(text).storyboard
    assert board.title == "2024-01-01" and board.scenes[0].caption.text == "2024-01-01"
    assert board.scenes[0].prompts[0].text == "2001-12-14t21:59:43.10-05:00"


def test_a_date_where_a_time_goes_is_a_type_error():
    err = _errors("scenes:\n  - duration: 2024-01-01\n    prompts: x\n")
    assert "s.yaml:2:15: error: scenes[0].duration: '2024-01-01' is not a time" in err and "tag" not in err
    err = _errors("output: {fps: 2024-01-01}\n" + SCENES)
    assert "output.fps: expected a valid integer" in err and "tag" not in err


def test_an_explicit_timestamp_tag_is_still_refused():
    assert "YAML tag '!!timestamp' is not allowed" in _errors("title: !!timestamp 2024-01-01\n" + SCENES)


# --- issue 25: tempos, quoted numbers, plain words, shorthand locations ----------------------


@pytest.mark.parametrize(("written", "shown"), [("1e-320", "1e-320"), ("1.0e-320", "1e-320"), (".nan", "nan"),
                                                 ("0", "0"), ("401", "401"), (".inf", "inf")])
def test_a_tempo_outside_1_to_400_bpm_is_a_located_error(written, shown):
    # A denormal bpm used to end `plan` with an unlocated OverflowError (exit 1).
    assert _errors(f"bpm: {written}\n" + SCENES).splitlines()[0] == \
        f"s.yaml:1:6: error: bpm: expected a tempo from 1 to 400 BPM, got {shown}"
    err = _errors(f"music: {{path: x.ogg, bpm: {written}}}\n" + SCENES)
    assert f"s.yaml:1:27: error: music.bpm: expected a tempo from 1 to 400 BPM, got {shown}\n" in err


def test_a_tempo_range_with_a_denormal_end_is_a_located_error():
    err = _errors("music: {path: x.ogg, bpm: [1.0e-320, 100]}\n" + SCENES)
    assert "s.yaml:1:27: error: music.bpm: expected a tempo from 1 to 400 BPM, got 1e-320\n" in err


def test_plan_of_a_denormal_tempo_exits_2(tmp_path, capsys):
    script = tmp_path / "t.yaml"
    script.write_text("bpm: 1e-320\n" + SCENES.replace("duration: 2", "duration: 2 beats"), encoding="utf-8")
    assert main(["plan", str(script)]) == 2
    assert "bpm: expected a tempo from 1 to 400 BPM, got 1e-320" in capsys.readouterr().err


def test_tempos_in_range_still_load():
    assert load_script_text("bpm: 1\n" + SCENES).storyboard.bpm == 1.0
    assert load_script_text("bpm: '1e2'\n" + SCENES).storyboard.bpm == 100.0  # YAML reads 1e2 as text
    board = load_script_text("music: {path: x.ogg, bpm: [60, 400]}\n" + SCENES, keep_going=True).storyboard
    assert board.music[0].bpm == (60.0, 400.0)


def test_a_quoted_version_says_to_drop_the_quotes():
    # It used to say "did you mean '1'?" about the '1' the user wrote.
    assert _errors("version: '1'\n" + SCENES).splitlines()[0] == (
        "s.yaml:1:10: error: version: unknown value '1'; expected one of: 1 (write version: 1 without quotes: "
        "it is a number)")


@pytest.mark.parametrize(("scene", "message"), [
    ("prompts: ''", "s.yaml:3:14: error: scenes[0].prompts: expected text, got an empty string"),
    ("prompts: []", "s.yaml:3:14: error: scenes[0].prompts: expected at least 1 prompt, got none"),
    ("prompts: [a, '']", "s.yaml:3:18: error: scenes[0].prompts[1]: expected text, got an empty string"),
    ("prompts: [5]", "s.yaml:3:15: error: scenes[0].prompts[0]: expected a prompt: its text, or a mapping such as "
                     "{at: 2s, text: ...}, got 5"),
    ("prompts: a\n    caption: ''", "s.yaml:4:14: error: scenes[0].caption: expected text, got an empty string"),
    ("prompts: a\n    hold: 5", "s.yaml:4:11: error: scenes[0].hold: expected a mapping of fields, got 5"),
    ("prompts: a\n    seed: 1.5", "s.yaml:4:11: error: scenes[0].seed: expected a whole number, got 1.5"),
])
def test_shape_errors_are_in_plain_words_where_the_user_wrote_them(scene, message):
    # They used to read "expected a list that should have at least 1 item after validation, not 0" and
    # "scenes[0].prompts.text: expected a string that should have at least 1 character".
    assert _errors(f"scenes:\n  - duration: 2\n    {scene}\n").splitlines()[0] == message


def test_no_scenes_is_said_in_plain_words():
    assert _errors("scenes: []\n").splitlines()[0] == "s.yaml:1:9: error: scenes: expected at least 1 scene, got none"


@pytest.mark.parametrize(("option", "message"), [
    (dict(steps=0), "--steps 0: expected a number greater than or equal to 1"),
    (dict(steps="x"), "--steps x: expected a valid integer"),  # was "..., unable to parse string as an integer"
    (dict(guidance=99.0), "--guidance 99.0: expected a number less than or equal to 50"),
])
def test_command_line_overrides_are_refused_in_plain_words(option, message):
    from storyboard.errors import UsageError
    from storyboard.script.load import with_overrides

    with pytest.raises(UsageError) as info:
        with_overrides(load_script_text(SCENES), **option)
    assert str(info.value) == message
