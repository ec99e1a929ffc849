import json
from pathlib import Path

import pytest
from helpers import ROOT, run_cli

from storyboard.script.load import load_script
from storyboard.script.schema import json_schema

EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def test_committed_schema_matches_the_models():
    committed = json.loads((ROOT / "schemas" / "storyboard.schema.json").read_text())
    assert committed == json_schema(), "schemas/storyboard.schema.json is stale: run `storyboard schema -o schemas/storyboard.schema.json`"


def test_schema_command_prints_the_schema():
    result = run_cli("schema")
    assert result.returncode == 0
    assert json.loads(result.stdout) == json_schema()


def test_schema_accepts_the_shorthands():
    scene = json_schema()["$defs"]["Scene"]["properties"]
    assert {"type": "string", "minLength": 1} in scene["prompts"]["anyOf"]
    assert {"enum": ["cut", "crossfade", "morph"]} in scene["transition"]["anyOf"]
    assert scene["duration"]["anyOf"][0] == {"type": "number", "minimum": 0}


def test_the_examples_are_there():
    assert {p.stem for p in EXAMPLES} >= {"explainer", "night-city", "story", "bulletin"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_point_editors_at_the_schema(path: Path):
    first = path.read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../schemas/storyboard.schema.json"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_are_valid(path: Path, example_media):
    load_script(path)


def test_story_example_uses_all_three_transitions_in_six_or_more_scenes(example_media):
    board = load_script(ROOT / "examples" / "story.yaml").storyboard
    assert len(board.scenes) >= 6
    assert {s.transition.type for s in board.scenes[1:]} == {"cut", "crossfade", "morph"}
