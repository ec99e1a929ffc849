"""Write a drafted storyboard as YAML a person will want to edit.

Block style throughout; a comment header says where the draft came from and what to check; each
scene is introduced by a comment with its heading, words and seconds of speech; long narration
is a folded block (``>-``) wrapped at :data:`WIDTH` columns, paragraphs a blank line apart. Every
block scalar is read back with PyYAML before it is used, and falls back to a quoted string when
it would not read back exactly, so the file always says what the draft meant.
"""

from __future__ import annotations

import json
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path

import yaml

from storyboard.draft.prose import as_sentence, seconds_of_speech, word_count
from storyboard.draft.scenes import SceneDraft

WIDTH = 96  # columns of the folded narration
OUTPUT = "{width: 1280, height: 720, fps: 24, captions: both}"
TRANSITION = "{type: crossfade, duration: 0.5s}"  # short: with auto durations a scene's length is only known at plan time
TITLE_PADDING = "1s"
SCENE_PADDING = "0.5s"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class DraftedScript:
    """What goes into the file: the title card, the scenes and their prompts."""

    title: str
    description: str
    style: str
    title_prompt: str
    scenes: list[SceneDraft]
    prompts: list[str]
    source: str  # the article, as the header names it
    skipped: str  # the article's skipped summary ('' when nothing was)
    prompt_origin: str  # how the prompts were made, for the header
    schema: str = ""  # the script's JSON Schema as a path from the script ('' outside a checkout: see schema_reference)

    @property
    def title_narration(self) -> str:
        return " ".join(filter(None, [as_sentence(self.title), as_sentence(self.description)]))

    @property
    def words(self) -> int:
        """Words of narration in the whole script, the title card's included."""
        return word_count(self.title_narration) + sum(s.words for s in self.scenes)


def quoted(text: str) -> str:
    """A double-quoted YAML scalar (JSON's escapes are YAML's)."""
    return json.dumps(text, ensure_ascii=False)


def block(text: str, indent: int) -> str:
    """``text`` as a folded block scalar at ``indent`` spaces (one line per ~:data:`WIDTH` columns,
    paragraphs a blank line apart), or quoted when short or when the block would not read back."""
    if len(text) + indent < WIDTH - 14 and "\n" not in text:
        return quoted(text)
    lines: list[str] = []
    for number, paragraph in enumerate(text.split("\n")):
        if number:
            lines.append("")
        lines += textwrap.wrap(paragraph, WIDTH - indent, break_long_words=False, break_on_hyphens=False)
    folded = ">-\n" + "\n".join(" " * indent + line if line else "" for line in lines)
    try:
        if yaml.load("k: " + folded, Loader=_Loader) == {"k": text}:
            return folded
    except yaml.YAMLError:
        pass
    return quoted(text)


def header(draft: DraftedScript, script_name: str) -> list[str]:
    """The comment at the top: where it came from and what to check before rendering."""
    lines = [f"# yaml-language-server: $schema={draft.schema}" if draft.schema else
             "# JSON Schema for your editor: storyboard schema -o storyboard.schema.json, then make the first line",
             "#" if draft.schema else "#   '# yaml-language-server: $schema=storyboard.schema.json'",
             ] + ([] if draft.schema else ["#"]) + [
        f"# Drafted by `storyboard draft` from {draft.source}: a first cut, meant to be edited.",
        "#",
        "# Check before rendering:",
        f"#   - prompts: {draft.prompt_origin}; rewrite them as pictures",
        "#     (a subject, a setting, a light), they decide what each scene shows;",
        "#   - narration: read it aloud; spell out numbers, symbols and abbreviations the voice may stumble on;",
        "#   - scene lengths: about 20 to 60 s of speech each at 150 words a minute (durations follow the narration);",
    ]
    if draft.skipped:
        lines.append(f"#   - what was left out of the narration: {draft.skipped}.")
    lines += [
        "#",
        f"#   storyboard validate {script_name}",
        f"#   storyboard render {script_name}              # animatic with the preview backend",
    ]
    return lines


def scene_lines(scene_id: str, duration: str, prompt: str, narration: str, transition: bool) -> list[str]:
    """One scene's entries, at the indentation of ``scenes:``'s items."""
    plain = scene_id[:1].isalpha() and scene_id.lower() not in ("true", "false", "null", "yes", "no", "on", "off", "y", "n")
    lines = [f"  - id: {scene_id if plain else quoted(scene_id)}", f"    duration: {duration}"]
    if transition:
        lines.append(f"    transition: {TRANSITION}")
    lines.append(f"    prompts: {quoted(prompt)}")
    lines.append(f"    narration: {block(narration, 6)}")
    return lines


def schema_reference(script: Path) -> str:
    """The JSON Schema for editors: ``schemas/storyboard.schema.json`` of a storyboard checkout that
    holds ``script`` (a relative path, which resolves offline), else '' and the header says how to
    write one with ``storyboard schema``: the schema's $id is an identifier, not an address that
    serves the file, so a modeline pointing at it would only fail in the editor."""
    for folder in script.resolve().parents:
        schema = folder / "schemas" / "storyboard.schema.json"
        if schema.is_file():
            return os.path.relpath(schema, script.resolve().parent).replace(os.sep, "/")
    return ""


def script_yaml(draft: DraftedScript, script_name: str) -> str:
    """The whole script's text."""
    lines = header(draft, script_name) + [
        "version: 1",
        f"title: {quoted(draft.title)}",
        f"output: {OUTPUT}    # captions from the narration: burnt in and as .srt",
        "model: preview       # or a text-to-video model, e.g. damo-vilab/text-to-video-ms-1.7b",
        f"style: {quoted(draft.style)}    # appended to every prompt",
        "scenes:",
    ]
    lines += scene_lines("title", f"auto + {TITLE_PADDING}", draft.title_prompt, draft.title_narration, False)
    for scene, prompt in zip(draft.scenes, draft.prompts):
        seconds = seconds_of_speech(scene.words)
        lines += ["", f"  # {_about(scene)}: {scene.words} words, about {seconds:.0f} s"]
        lines += scene_lines(scene.id, f"auto + {SCENE_PADDING}", prompt, scene.text, True)
    return "\n".join(lines) + "\n"


def _about(scene: SceneDraft) -> str:
    headings = [h for h in scene.headings.values() if h] or ["Introduction"]
    return " / ".join(" ".join(h.split()) for h in headings)
