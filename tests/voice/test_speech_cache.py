"""The speech cache: a damaged entry is spoken again, and narration is spoken even when the cache
cannot be written (in a temporary folder, with a warning naming the file)."""

from __future__ import annotations

import json
import os

import pytest

from storyboard.voice.speech import speak, speech_key
from storyboard.voice.voices import find_voice

TEXT = "One sentence."


@pytest.fixture(scope="module")
def voice():
    return find_voice("en_US-joe-medium")


@pytest.fixture(scope="module")
def made(voice, tmp_path_factory):
    """The speech of TEXT as a fresh cache makes it."""
    return speak(TEXT, voice, cache=tmp_path_factory.mktemp("fresh"))


def entry(cache, voice):
    key = speech_key(TEXT, voice, 1.0, 0.35)
    return cache / f"{key}.wav", cache / f"{key}.json"


@pytest.mark.parametrize("which", ["wav", "note"])
def test_a_folder_where_a_cache_file_should_be_is_worked_around_and_named(tmp_path, voice, made, which):
    wav, note = entry(tmp_path, voice)
    blocked = wav if which == "wav" else note
    (blocked / "something").mkdir(parents=True)  # a folder, not empty: nothing of it is removed
    warnings: list[str] = []
    speech = speak(TEXT, voice, cache=tmp_path, warn=warnings.append)
    assert speech.duration_s == made.duration_s and speech.sentences == made.sentences
    assert speech.path.is_file() and speech.path.parent != tmp_path  # spoken into a temporary folder
    assert (blocked / "something").is_dir()
    assert any(f"{blocked} is a folder, where a speech file should be" in w for w in warnings), warnings


@pytest.mark.parametrize("note", [
    [], {}, "text", 5,
    {"duration_s": 1.0, "sample_rate": 22050, "bytes": 10, "sha256": "x"},  # no sentences (KeyError: 'sentences')
    {"duration_s": 1.0, "sample_rate": 22050, "bytes": 10, "sha256": "x", "sentences": [["a", 0]]},
    {"duration_s": 1.0, "sample_rate": 22050, "bytes": 10, "sha256": "x", "sentences": 7},
    {"duration_s": "long", "sample_rate": 22050, "bytes": 10, "sha256": "x", "sentences": []},
    {"duration_s": 1.0, "sample_rate": None, "bytes": None, "sha256": 3, "sentences": [[1, 2, 3]]},
])
def test_a_note_of_the_wrong_shape_is_spoken_again(tmp_path, voice, made, note):
    wav, note_path = entry(tmp_path, voice)
    speak(TEXT, voice, cache=tmp_path)
    data = json.loads(note_path.read_text())
    note_path.write_text(json.dumps(note))
    warnings: list[str] = []
    speech = speak(TEXT, voice, cache=tmp_path, warn=warnings.append)
    assert speech.path == wav and speech.duration_s == made.duration_s and speech.sentences == made.sentences
    again = json.loads(note_path.read_text())  # the entry is whole again (the voice's timbre varies: its checksum)
    assert {k: again[k] for k in ("duration_s", "sample_rate", "sentences")} == {
        k: data[k] for k in ("duration_s", "sample_rate", "sentences")}
    assert again["bytes"] == wav.stat().st_size
    assert warnings == [f"warning: the speech cache entry {note_path} is not a speech note (its fields are missing "
                        "or of the wrong kind); speaking it again"]


def test_a_note_that_is_not_json_or_a_wav_that_does_not_match_is_spoken_again(tmp_path, voice, made):
    wav, note_path = entry(tmp_path, voice)
    speak(TEXT, voice, cache=tmp_path)
    note_path.write_bytes(b"\xff\xfe not json")
    warnings: list[str] = []
    assert speak(TEXT, voice, cache=tmp_path, warn=warnings.append).sentences == made.sentences
    wav.write_bytes(wav.read_bytes()[:-10])
    assert speak(TEXT, voice, cache=tmp_path, warn=warnings.append).sentences == made.sentences
    assert warnings == [f"warning: the speech cache entry {note_path} is not a speech note (not JSON text); speaking "
                        "it again",
                        f"warning: the speech cache entry {wav} does not match its note (size or checksum); speaking "
                        "it again"]


def test_speech_is_spoken_when_the_cache_cannot_be_written(tmp_path, voice, made, monkeypatch):
    """As on a read-only file system: every file made in the cache folder is refused."""
    import storyboard.files

    cache = tmp_path / "cache"
    cache.mkdir()
    real = storyboard.files.temporary_sibling

    def refused(path, suffix):
        if path.parent == cache:
            raise PermissionError(13, "Permission denied", str(path.parent))
        return real(path, suffix)

    monkeypatch.setattr(storyboard.files, "temporary_sibling", refused)
    warnings: list[str] = []
    speech = speak(TEXT, voice, cache=cache, warn=warnings.append)
    assert speech.sentences == made.sentences and speech.path.is_file() and list(cache.iterdir()) == []
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: cannot keep speech in the cache: {cache}: "
                                                         "Permission denied; it is kept in ")


def test_speech_is_spoken_when_the_cache_is_under_a_file(tmp_path, voice, made, monkeypatch, capsys):
    """STORYBOARD_CACHE naming a file: validate still speaks the narration, and says where the cache failed."""
    from helpers import write

    from storyboard.cli import main

    (tmp_path / "not-a-folder").write_text("mine\n")
    monkeypatch.setenv("STORYBOARD_CACHE", str(tmp_path / "not-a-folder"))
    script = write(tmp_path / "s.yaml", f"scenes:\n  - {{duration: auto, prompts: a, narration: {TEXT}}}\n")
    assert main(["validate", str(script)]) == 0
    err = capsys.readouterr().err
    assert f"warning: cannot keep speech in the cache: {tmp_path / 'not-a-folder' / 'speech'}" in err, err
    assert (tmp_path / "not-a-folder").read_text() == "mine\n"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_speech_is_spoken_when_the_cache_folder_is_read_only(tmp_path, voice, made):
    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(0o500)
    try:
        warnings: list[str] = []
        assert speak(TEXT, voice, cache=cache, warn=warnings.append).sentences == made.sentences
        assert len(warnings) == 1 and "Permission denied" in warnings[0]
    finally:
        cache.chmod(0o700)
