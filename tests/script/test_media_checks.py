"""validate's checks of a script's images, subjects, keyframes, continued cuts and control videos
that need no decoding (issue 20): located errors, every one in one report, the music's wording for a
file that is not there."""

from __future__ import annotations

import pytest
from helpers import write

from storyboard.errors import ScriptErrors
from storyboard.script.load import load_script


def _errors(path) -> dict[tuple[int, int], str]:
    with pytest.raises(ScriptErrors) as caught:
        load_script(path)
    return {(e.line, e.column): e.message + (f" ({e.hint})" if e.hint else "") for e in caught.value.errors}


def test_an_unknown_subject_is_an_error_at_its_line_with_a_did_you_mean(tmp_path):
    (tmp_path / "mara.png").write_bytes(b"not looked at here")
    script = write(tmp_path / "s.yaml", """
        subjects:
          mara: {description: a girl in a yellow raincoat, images: mara.png}
          fox: {description: a red fox, images: mara.png}
        scenes:
          - {duration: 2s, prompts: a street, subjects: [mara, foxx]}
          - {duration: 2s, prompts: a park, subjects: Mara}
          - {duration: 2s, prompts: a roof, subjects: [fox, fox]}
    """)
    said = _errors(script)
    assert said == {
        (5, 56): "unknown subject 'foxx'; the script declares: mara, fox (did you mean 'fox'?)",
        (6, 47): "unknown subject 'Mara'; the script declares: mara, fox (did you mean 'mara'?)",
        (7, 53): "subject 'fox' is listed twice",
    }


def test_a_subject_cited_with_none_declared_says_how_to_declare_one(tmp_path):
    script = write(tmp_path / "s.yaml", "scenes:\n  - {duration: 2s, prompts: a, subjects: mara}\n")
    (message,) = _errors(script).values()
    assert message == ("unknown subject 'mara': declare it under subjects: at the top of the script, e.g. "
                       "subjects: {mara: {description: ..., images: mara.png}}")


def test_missing_images_and_videos_get_the_music_files_wording(tmp_path):
    (tmp_path / "frames").mkdir()
    (tmp_path / "folder.png").mkdir()
    script = write(tmp_path / "s.yaml", """
        music: song.wav
        subjects:
          mara: {description: a girl, images: [mara.png, folder.png]}
        scenes:
          - duration: 2s
            prompts: a
            image: start.png
            keyframes: [{at: 1s, image: key.png}]
            control: {video: dance.mp4, kind: pose}
          - {duration: 2s, prompts: b, control: {video: frames, kind: depth}}
    """)
    said = _errors(script)
    assert said[(1, 8)] == f"audio file 'song.wav' does not exist (looked for {tmp_path / 'song.wav'})"
    assert said[(3, 40)] == f"image 'mara.png' does not exist (looked for {tmp_path / 'mara.png'})"
    assert said[(3, 50)] == f"image 'folder.png' is a folder (looked for {tmp_path / 'folder.png'})"
    assert said[(7, 12)] == f"image 'start.png' does not exist (looked for {tmp_path / 'start.png'})"
    assert said[(8, 33)] == f"image 'key.png' does not exist (looked for {tmp_path / 'key.png'})"
    assert said[(9, 22)] == f"control video 'dance.mp4' does not exist (looked for {tmp_path / 'dance.mp4'})"
    assert len(said) == 6  # a folder of frames is a control video


def test_start_images_and_continued_cuts_only_where_they_can_be(tmp_path):
    (tmp_path / "a.png").write_bytes(b"x")
    script = write(tmp_path / "s.yaml", """
        scenes:
          - {duration: 2s, prompts: a, continue: true}
          - {duration: 2s, prompts: b, transition: morph, image: a.png, continue: true, anchor: 0.5}
          - {duration: 2s, prompts: c, transition: crossfade, continue: true}
          - {duration: 2s, prompts: d, image: a.png, continue: true}
          - {duration: 2s, prompts: e, continue: true, anchor: 0}
    """)
    said = _errors(script)
    assert said == {
        (2, 42): "the first scene has no shot before it to continue from",
        (3, 58): "a morph continues the shot before it, so it cannot start on a picture: give the image as a "
                 "keyframe to pass through it (keyframes: [{at: 0, image: ...}]), or make the transition a cut "
                 "to start a new shot on it",
        (3, 75): "a morph already continues the shot before it; continue: true is for a cut",
        (3, 89): "anchoring is set once a shot, on the scene that starts it; a morph continues the shot of the "
                 "scene before it",
        (4, 65): "continue: true starts from the previous shot's last frames, which a crossfade blends away; "
                 "use a cut",
        (5, 56): "continue: true starts the shot from the previous shot's last frames, so it cannot also start "
                 "on an image: remove one (a keyframe can pass through the image later)",
    }


def test_a_control_start_in_beats_is_refused(tmp_path):
    (tmp_path / "d.mp4").write_bytes(b"x")
    script = write(tmp_path / "s.yaml", """
        bpm: 120
        scenes:
          - {duration: 2s, prompts: a, control: {video: d.mp4, kind: edge, start: 2 beats}}
    """)
    assert list(_errors(script).values()) == ["'2 beats': where the control video starts is written in seconds "
                                              "or frames (its own frames)"]
