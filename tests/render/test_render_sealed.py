"""Damaged cache entries count as missing, are made again, and the message names the file."""

from __future__ import annotations

import json

import pytest
from helpers import probe, write

from storyboard.cli import main
from storyboard.render import sealed

KEY = "ab" * 20


@pytest.fixture
def entry(tmp_path):
    """A sealed 3-frame entry."""
    path = tmp_path / f"{KEY}.mkv"
    path.write_bytes(b"frames")
    sealed.seal(path, 3)
    assert sealed.problem(path, 3) is None
    return path


def test_a_folder_where_the_entry_belongs_is_moved_aside_and_named(entry):
    entry.unlink()
    entry.mkdir()
    (entry / "keep.txt").write_text("mine")
    assert sealed.problem(entry, 3) == f"is a folder, not a file (moved aside to {KEY}.mkv.damaged)"
    assert (entry.parent / f"{KEY}.mkv.damaged" / "keep.txt").read_text() == "mine", "moved, never deleted"
    assert sealed.problem(entry, 3) == sealed.MISSING
    entry.write_bytes(b"frames")
    sealed.seal(entry, 3)
    assert sealed.problem(entry, 3) is None


def test_a_folder_where_the_note_belongs_is_moved_aside_and_named(entry):
    note = entry.with_suffix(".json")
    note.unlink()
    note.mkdir()
    (entry.parent / f"{KEY}.json.damaged").mkdir()  # taken: the next name is used
    assert sealed.problem(entry, 3) == (f"has a folder where its note {KEY}.json belongs "
                                         f"(moved aside to {KEY}.json.damaged-1)")
    sealed.seal(entry, 3)  # was IsADirectoryError
    assert sealed.problem(entry, 3) is None


@pytest.mark.parametrize("text", [
    "[1, 2]", "not json", "\"a string\"", "[" * 100_000,
    json.dumps({"sha256": 5, "bytes": 6, "frames": 3}),
    json.dumps({"sha256": "ab" * 32, "bytes": "6", "frames": 3}),
    json.dumps({"sha256": "ab" * 32, "bytes": 6, "frames": [3]}),
    json.dumps({"sha256": "ab" * 32, "bytes": True, "frames": 3}),
])
def test_a_note_of_the_wrong_shape_is_a_damaged_note_named_by_its_file(entry, text):
    entry.with_suffix(".json").write_text(text)
    said = sealed.problem(entry, 3)
    assert said is not None and said.startswith(f"has a damaged note ({KEY}.json"), said
    sealed.seal(entry, 3)
    assert sealed.problem(entry, 3) is None


def test_an_unreadable_entry_counts_as_damaged(entry, monkeypatch):
    def refuse(path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(sealed, "file_digest", refuse)
    assert sealed.problem(entry, 3) == "cannot be read (Permission denied)"


def test_listing_a_cache_with_damaged_notes_shows_what_it_can(tmp_path, capsys):
    cache = tmp_path / ".storyboard-cache"
    script = write(tmp_path / "s.yaml", """
        output: {width: 64, height: 64, fps: 12, preset: ultrafast}
        scenes:
          - {id: a, duration: 1s, prompts: red}
    """)
    assert main(["render", str(script), "-q"]) == 0
    note = next(cache.glob("*.json"))
    note.write_text(json.dumps({"frames": [12], "scenes": [1, 2], "model": {"id": "x"}, "shot": "0"}))
    capsys.readouterr()
    assert main(["cache", "show", "--cache", str(cache)]) == 0, "was TypeError: unsupported format string"
    assert "     ? frames  ?  shot ? ()" in capsys.readouterr().out


@pytest.mark.slow
def test_a_render_over_folders_in_place_of_its_entries_makes_them_again(tmp_path, capsys):
    script = write(tmp_path / "s.yaml", """
        output: {width: 64, height: 64, fps: 12, preset: ultrafast}
        scenes:
          - {id: a, duration: 1s, prompts: red}
          - {id: b, duration: 1s, prompts: blue, transition: {type: crossfade, duration: 0.5s}}
    """)
    assert main(["render", str(script), "-q"]) == 0
    cache = tmp_path / ".storyboard-cache"
    segment = next(p for p in cache.glob("*.mkv") if json.loads(p.with_suffix(".json").read_text())["shot"] == 0)
    piece = sorted((cache / "pieces").glob("*.h264"))[0]
    for path in (segment, piece.with_suffix(".json")):
        path.unlink()
        path.mkdir()
    capsys.readouterr()
    assert main(["render", str(script)]) == 0, "was IsADirectoryError, on every run"
    err = capsys.readouterr().err
    assert f"warning: segment {segment.name} (shot 0) is a folder, not a file (moved aside to {segment.name}.damaged)" in err
    assert (f"warning: piece {piece.name} has a folder where its note {piece.stem}.json belongs "
            f"(moved aside to {piece.stem}.json.damaged)") in err
    assert probe(tmp_path / "s.mp4").frames == 24
    assert main(["cache", "prune", str(script)]) == 0, "prune passes over what was moved aside"
    assert (cache / f"{segment.name}.damaged").is_dir()
