"""The script's syntax for images, subjects, keyframes, continued cuts, control videos and anchoring
(issue 20): the shorthands, YAML and JSON alike, and the located errors of a wrong shape."""

from __future__ import annotations

import json

import pytest

from storyboard.errors import ScriptErrors
from storyboard.script.load import load_script_text
from storyboard.script.schema import KEY_END, json_schema
from storyboard.script.timecode import TimeValue

YAML = """\
subjects:
  mara: {description: a girl in a   yellow raincoat, images: mara.png}
  fox: {description: a red fox, images: [fox.png, fox-side.png]}
scenes:
  - duration: 4s
    prompts: a street in the rain
    subjects: mara
    image: start.png
    keyframes: [{at: 2 beats, image: k.png}, {at: END, image: e.png}]
    control: {video: dance.mp4, kind: pose, start: 12f}
    anchor: 0.5
  - duration: 3s
    prompts: the same street from above
    subjects: [mara, fox]
    continue: true
"""


def _board(text: str, name: str = "t.yaml"):
    return load_script_text(text, name, keep_going=True).storyboard


def test_the_shorthands_read_as_their_long_forms():
    board = _board(YAML)
    assert board.subjects["mara"].images == ["mara.png"]
    assert board.subjects["mara"].description == "a girl in a yellow raincoat"  # spaces folded
    assert board.subjects["fox"].images == ["fox.png", "fox-side.png"]
    first, second = board.scenes
    assert first.subjects == ["mara"] and second.subjects == ["mara", "fox"]
    assert first.image == "start.png" and second.image is None
    assert [(k.at, k.image) for k in first.keyframes] == [(TimeValue(2, "beats"), "k.png"), (KEY_END, "e.png")]
    assert (first.control.video, first.control.kind, first.control.start) == ("dance.mp4", "pose", TimeValue(12, "f"))
    assert first.anchor == 0.5 and second.anchor is None  # None: the model family's default
    assert (first.continue_, second.continue_) == (False, True)


def test_json_says_the_same_as_yaml():
    import yaml

    as_json = json.dumps(yaml.safe_load(YAML))
    assert _board(as_json, "t.json") == _board(YAML)


def test_the_json_schema_takes_the_shorthands_and_names_continue_as_written():
    defs = json_schema()["$defs"]
    scene = defs["Scene"]["properties"]
    assert "continue" in scene and "continue_" not in scene
    assert {"type": "string", "minLength": 1} in scene["subjects"]["anyOf"]
    assert {"type": "string", "minLength": 1} in defs["Subject"]["properties"]["images"]["anyOf"]
    assert {"const": "end"} in defs["Keyframe"]["properties"]["at"]["anyOf"]
    assert defs["Control"]["properties"]["kind"]["enum"] == ["pose", "depth", "edge"]
    assert "family" in scene["anchor"]["description"]  # the default is the model family's


BAD = """\
subjects:
  mara: {description: a girl, images: []}
scenes:
  - duration: 4s
    prompts: a street
    keyframes: [{at: soon, image: k.png}]
    control: {video: dance.mp4, kind: poses}
    anchor: 1.5
    continu: true
"""


def test_each_wrong_shape_is_located_with_what_was_expected():
    with pytest.raises(ScriptErrors) as caught:
        load_script_text(BAD, "bad.yaml")
    said = {(e.line, e.column): e.message + (f" ({e.hint})" if e.hint else "") for e in caught.value.errors}
    assert said[(2, 39)] == "expected at least 1 image, got none"
    assert said[(6, 22)].startswith("'soon' is not a time") and said[(6, 22)].endswith("or end (the scene's last frame)")
    assert said[(7, 39)] == "unknown value 'poses'; expected one of: pose, depth, edge (did you mean 'pose'?)"
    assert said[(8, 13)] == "expected a number less than or equal to 1, got 1.5"
    assert said[(9, 5)].startswith("unknown field 'continu'; expected one of: id, duration")
    assert "continue, control, anchor" in said[(9, 5)] and said[(9, 5)].endswith("(did you mean 'continue'?)")
    assert len(caught.value.errors) == 5
