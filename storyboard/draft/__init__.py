"""Draft a storyboard script from an article: ``storyboard draft ARTICLE -o script.yaml``.

* :mod:`~storyboard.draft.article`, :mod:`~storyboard.draft.markup`: read Markdown, text or HTML
  into sections of narratable paragraphs, counting what is left out (code, tables, images, ...).
* :mod:`~storyboard.draft.scenes`: cut it into scenes of about 20 to 60 s of speech.
* :mod:`~storyboard.draft.prompts`, :mod:`~storyboard.draft.llm`: a visual prompt per scene,
  extractive by default, or written by a local text-generation model.
* :mod:`~storyboard.draft.script`: the YAML, formatted for a person to edit.

:func:`draft` does it all and writes the script atomically; it never writes over the article,
nor over an existing script unless asked to.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from storyboard.errors import UsageError

DEFAULT_STYLE = "clean editorial illustration, soft light"
SCRIPT_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class DraftResult:
    """What :func:`draft` wrote, for the summary."""

    output: Path
    scenes: int  # the title card included
    words: int  # of narration
    skipped: str  # e.g. "3 code blocks, 1 table, 2 images (alt text used for prompts)"; '' when nothing
    prompts: str  # how the prompts were made
    left_out: int = 0  # words of the article's narration past the script's length limit (see scenes.within_limit)
    article_words: int = 0  # words of narration the article holds

    @property
    def minutes(self) -> float:
        """Estimated minutes of narration at 150 words a minute."""
        from storyboard.draft.prose import seconds_of_speech

        return seconds_of_speech(self.words) / 60

    def summary(self) -> str:
        return "\n".join([
            f"wrote {self.output}: {self.scenes} scenes (a title card and {self.scenes - 1} from the article), "
            f"{self.words} words, about {self.minutes:.1f} minutes of narration",
            f"skipped: {self.skipped or 'nothing'}",
            f"prompts: {self.prompts}; check them, and read the narration aloud, before rendering",
        ] + ([self.warning] if self.left_out else []))

    @property
    def warning(self) -> str:
        """Why the script stops before the article does ('' when it does not)."""
        if not self.left_out:
            return ""
        from storyboard.draft.scenes import MAX_DRAFT_S
        from storyboard.words import plural

        share = 100 * self.left_out / max(1, self.article_words)
        return (f"warning: the article is too long for one script: the draft stops after about "
                f"{MAX_DRAFT_S / 3600:.0f} hours of narration; {plural(self.left_out, 'word')} "
                f"({share:.0f}% of the article) were left out; draft the rest from a shorter article")


def output_for(article: Path, output: Path | None, force: bool) -> Path:
    """The script to write: ``output``, or the article's name with ``.yaml`` beside it. Refused
    (:class:`UsageError`) when it is not .yaml/.yml, is a folder or not a regular file, is the
    article itself, or exists and ``force`` is not set."""
    target = output if output is not None else article.with_suffix(".yaml")
    flag = f"-o {target}" if output is not None else str(target)
    if target.suffix.lower() not in SCRIPT_SUFFIXES:
        raise UsageError(f"{flag}: a script is written as .yaml or .yml")
    if target.is_dir():
        raise UsageError(f"{flag}: is a folder; name the script to write")
    if os.path.lexists(target):
        if article.exists() and target.exists() and os.path.samefile(target, article):
            raise UsageError(f"{flag}: is the article itself; choose another name")
        if not target.is_file():
            raise UsageError(f"{flag}: exists and is not a regular file; choose another name")
        if not force:
            raise UsageError(f"{flag}: exists; pass --force to overwrite it")
    return target


def draft(article: Path, output: Path | None = None, *, force: bool = False, style: str = DEFAULT_STYLE,
          llm: str | None = None) -> DraftResult:
    """Read ``article``, cut it into scenes, write prompts, and write the script (atomically)."""
    from storyboard.draft.article import read_article
    from storyboard.draft.prompts import clean_prompt, extractive_prompts, title_prompt
    from storyboard.draft.scenes import scene_drafts, within_limit
    from storyboard.draft.script import DraftedScript, schema_reference, script_yaml
    from storyboard.files import atomic

    parsed = read_article(article)
    target = output_for(article, output, force)
    scenes = scene_drafts(parsed)
    article_words = sum(s.words for s in scenes)
    scenes = within_limit(scenes)
    left_out = article_words - sum(s.words for s in scenes)
    texts, headings = [s.text for s in scenes], [s.heading or "" for s in scenes]
    prompts = extractive_prompts(texts, headings, [s.images for s in scenes])
    cover = title_prompt(parsed.title, texts, parsed.cover)
    origin = "extractive (each scene's salient phrases, image alt texts first)"
    if llm:
        prompts, cover, origin = _written_by(llm, parsed.title, parsed.description, scenes, prompts, cover)
    source = os.path.relpath(article.resolve(), target.resolve().parent).replace(os.sep, "/")
    if source.startswith("../.."):  # far away: as the user named it
        source = str(article)
    drafted = DraftedScript(title=parsed.title, description=parsed.description, style=clean_prompt(style, 300),
                            title_prompt=cover, scenes=scenes, prompts=prompts, source=source,
                            skipped=parsed.skipped_summary(), prompt_origin=origin, schema=schema_reference(target))
    text = script_yaml(drafted, target.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic(target, target.suffix) as partial:
        partial.write_text(text, encoding="utf-8")
    return DraftResult(output=target, scenes=len(scenes) + 1, words=drafted.words, skipped=drafted.skipped,
                       prompts=origin, left_out=left_out, article_words=article_words)


def _written_by(model: str, title: str, description: str, scenes: list, prompts: list[str],
                cover: str) -> tuple[list[str], str, str]:
    """(scene prompts, title card prompt, how they were made) from the model ``--llm`` names."""
    from storyboard.draft.llm import llm_prompts
    from storyboard.draft.prompts import MAX_PROMPT_CHARS, clean_prompt

    texts = [" ".join(filter(None, [title, description]))] + [s.text for s in scenes]
    headings = [""] + [s.heading or "" for s in scenes]
    written, fell_back = llm_prompts(model, texts, headings, [cover] + prompts)
    title_card = written[0] if written[0] == cover else clean_prompt(written[0], MAX_PROMPT_CHARS - 12) + ", title card"
    origin = f"written by {model}"
    if fell_back:
        origin += f" ({fell_back} of {len(written)} fell back to extractive ones)"
    return written[1:], title_card, origin
