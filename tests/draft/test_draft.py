"""`storyboard draft`: articles (Markdown, text, HTML) -> scripts that validate and render as they are."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
import yaml
from helpers import ROOT, run_cli, write

from storyboard.draft import draft
from storyboard.draft.prompts import MAX_PROMPT_CHARS, clean_prompt, extractive_prompts
from storyboard.draft.scenes import MAX_WORDS, MIN_WORDS
from storyboard.draft.script import block
from storyboard.script.load import load_script

HURRICANE = ROOT / "examples" / "articles" / "hurricane-safety.md"

MESSY = """\
---
title: "Messy: a field guide"
description: Everything Markdown can throw at a narrator.
tags: [test]
---

<!-- a comment that must not be narrated: SECRET-COMMENT -->

# An ignored heading title

Intro paragraph with *emphasis*, __strong__, ~~struck~~ text and a [visible link text](https://example.com/secret-url)
plus a raw URL https://raw.example.org/SECRET-RAW?q=1 and <span class="x">inline html words</span>. A footnote
mark here[^1] ends the sentence.

![Alt text of a lighthouse at dusk](img/lighthouse.png)

## Lists and quotes

Some prose before the list, long enough to count as prose, with a few more words in it.

- first item about lanterns
- second item about `wordish` code
  - nested item about ropes

1. ordered item one
2. ordered item two

> A quoted line that should be narrated.

## Code and tables

Here is how the code looks, in a block that the narrator must skip entirely.

```python
def secret_function():
    return "SECRET-CODE"
```

    indented_code_block = "SECRET-INDENT"

Use `rm -rf /tmp/SECRET-INLINE` to clean up.

`storyboard --flag SECRET-HEAVY` and `x = 1`

| col | SECRET-TABLE |
| --- | --- |
| 1 | 2 |

<div align="center">
  <img src="x.png" alt="Block html image of a harbour">
  <p>Text inside a div block stays in the narration.</p>
</div>

<script>var SECRET_SCRIPT = 1;</script>

Final paragraph with a bare <https://autolink.example.com/SECRET-AUTO> autolink, and a closing thought.

[^1]: The footnote text SECRET-FOOTNOTE.
"""


def scenes_of(path: Path) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["scenes"]


def narration(path: Path) -> str:
    return " ".join(" ".join(s["narration"].split()) for s in scenes_of(path))


def check_script(path: Path) -> dict:
    """The script as data, after the project's own loader (schema and meaning) accepted it."""
    load_script(path)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    ids = [s["id"] for s in data["scenes"]]
    assert len(ids) == len(set(ids)) and ids[0] == "title"
    for scene in data["scenes"]:
        assert scene["prompts"].strip() and "\n" not in scene["prompts"] and len(scene["prompts"]) <= MAX_PROMPT_CHARS
        assert scene["narration"].strip() and str(scene["duration"]).startswith("auto")
    assert data["output"]["captions"] == "both"
    return data


# --- real articles ------------------------------------------------------------------------------


def test_readme_drafts_to_a_script(tmp_path):
    result = run_cli("draft", str(ROOT / "README.md"), "-o", str(tmp_path / "readme.yaml"))
    assert result.returncode == 0, result.stderr
    data = check_script(tmp_path / "readme.yaml")
    assert len(data["scenes"]) >= 5
    text = narration(tmp_path / "readme.yaml")
    assert "```" not in text and "pip install" not in text and "http" not in text
    assert re.search(r"skipped: \d+ code blocks, \d+ code-heavy lines, \d+ tables", result.stdout)


def test_hurricane_article(tmp_path):
    out = tmp_path / "hurricane.yaml"
    result = draft(HURRICANE, out)
    data = check_script(out)
    assert data["title"] == "How to prepare for a hurricane"  # the front matter's, not the H1's
    assert data["scenes"][0]["narration"].startswith("How to prepare for a hurricane. A calm, practical checklist")
    assert data["scenes"][0]["prompts"].startswith("A dark storm front rolling in over a coastal town")
    text = narration(out)
    assert "National Hurricane Center" in text and "nhc.noaa.gov" not in text  # link text kept, URL dropped
    assert "A manual can opener." in text  # list items as sentences
    assert "Turn around, don't drown." in text  # the blockquote
    assert "Editors:" not in text and "Per person" not in text  # the comment and the table
    for scene in data["scenes"][1:]:
        words = len(scene["narration"].split())
        assert MIN_WORDS <= words <= MAX_WORDS, (scene["id"], words)
    assert [s["id"] for s in data["scenes"]][:4] == ["title", "intro", "know-your-risk", "make-a-plan"]
    assert result.scenes == len(data["scenes"]) and 800 < result.words < 1100
    assert result.skipped == "1 table, 1 image (alt text used for prompts), 1 HTML comment"


def test_the_hurricane_example_is_the_drafts_output(tmp_path):
    """examples/hurricane.yaml is what the tool writes today (regenerate it when the drafter changes)."""
    out = tmp_path / "hurricane.yaml"
    draft(HURRICANE, out)
    body = out.read_text(encoding="utf-8").split("\nversion: 1\n", 1)[1]
    example = (ROOT / "examples" / "hurricane.yaml").read_text(encoding="utf-8")
    assert example.split("\nversion: 1\n", 1)[1] == body, \
        "regenerate: storyboard draft examples/articles/hurricane-safety.md -o examples/hurricane.yaml --force"
    assert "from articles/hurricane-safety.md" in example


@pytest.mark.slow
def test_drafted_scripts_validate_with_their_voice(tmp_path, warm_cache):
    """The whole check, narration synthesised for the auto durations: the README's opening sections
    (set-up, the script by example with its caption pages, drafting; about 1,200 words, a third of the
    whole README's speech, which took over 600 s beside a loaded machine) and the hurricane example."""
    warm_cache("hurricane")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    opening = tmp_path / "readme-opening.md"
    opening.write_text(readme[:readme.index("\n## Commands\n")], encoding="utf-8")
    drafted = run_cli("draft", str(opening), "-o", str(tmp_path / "readme.yaml"))
    assert drafted.returncode == 0, drafted.stderr
    words = int(re.search(r"(\d+) words", drafted.stdout).group(1))
    assert 800 < words < 2000, drafted.stdout
    result = run_cli("validate", str(tmp_path / "readme.yaml"), str(ROOT / "examples" / "hurricane.yaml"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": ok:") == 2
    assert "warning" not in result.stdout + result.stderr, "a fresh draft validates without warnings"


@pytest.mark.slow
def test_a_drafted_script_renders_as_it_is(tmp_path):
    article = write(tmp_path / "tides.txt", """
        Morning tides

        The sea pulls back at dawn and leaves the sand shining. Gulls walk along the waterline.
        """)
    assert run_cli("draft", str(article)).returncode == 0
    result = run_cli("render", str(tmp_path / "tides.yaml"), "-q")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "tides.mp4").stat().st_size > 0 and (tmp_path / "tides.srt").read_text().strip()


# --- every Markdown construct ------------------------------------------------------------------


def test_messy_markdown(tmp_path):
    article = write(tmp_path / "messy.md", MESSY)
    result = run_cli("draft", str(article))
    assert result.returncode == 0, result.stderr
    data = check_script(tmp_path / "messy.yaml")
    text = narration(tmp_path / "messy.yaml")
    assert "SECRET" not in text  # code, inline code, tables, comments, scripts, footnotes, URLs
    assert "http" not in text and "example.com" not in text and "[^1]" not in text
    assert data["title"] == "Messy: a field guide" and "ignored heading" not in text.lower()
    assert data["scenes"][0]["narration"] == "Messy: a field guide. Everything Markdown can throw at a narrator."
    assert "visible link text" in text and "inline html words" in text and "emphasis, strong, struck text" in text
    assert "First item about lanterns. Second item about wordish code. Nested item about ropes." in text
    assert "Ordered item one. Ordered item two." in text
    assert "A quoted line that should be narrated." in text
    assert "Text inside a div block stays in the narration." in text
    assert "Lists and quotes" not in text and "*" not in text and "<" not in text
    prompts = " ".join(s["prompts"] for s in data["scenes"])
    assert "Alt text of a lighthouse at dusk" in prompts and "Block html image of a harbour" in prompts
    assert "lighthouse" not in text
    assert ("skipped: 2 code blocks, 2 code-heavy lines, 1 table, 2 images (alt text used for prompts), "
            "1 footnote, 1 HTML comment, 1 script or style") in result.stdout


def test_text_article(tmp_path):
    article = write(tmp_path / "notes.txt", """
        Keeping bees in a small garden

        A single hive fits in a corner of most gardens. Bees fly up and over a fence, so the neighbours rarely
        notice them. See https://bees.example.org/SECRET for more.

        What you need

        - a hive with frames
        - a veil and gloves
        - a smoker

        In the first year, leave the honey for the bees; from the second, a strong colony gives plenty.
        """)
    result = run_cli("draft", str(article))
    assert result.returncode == 0, result.stderr
    data = check_script(tmp_path / "notes.yaml")
    text = narration(tmp_path / "notes.yaml")
    assert data["title"] == "Keeping bees in a small garden"
    assert "SECRET" not in text and "https" not in text and "See for more." in text
    assert "A hive with frames. A veil and gloves. A smoker." in text
    assert "What you need" not in text  # a short line standing alone is a heading
    assert "skipped: nothing" in result.stdout


def test_html_article(tmp_path):
    article = write(tmp_path / "page.html", """
        <!doctype html>
        <html><head><title>Harbour lights | Example site</title>
        <style>.SECRET-STYLE { color: red }</style><script>SECRET_SCRIPT()</script></head>
        <body>
        <nav><a href="/">Home SECRET-NAV</a></nav>
        <article>
          <h1>Harbour lights</h1>
          <p>Every harbour keeps its lights burning through the night, so that boats find their way home
             <a href="https://x.example/SECRET-HREF">past the breakwater</a>.<sup>1</sup></p>
          <img src="harbour.jpg" alt="A harbour at night with fishing boats">
          <h2>The keepers</h2>
          <p>Keepers once climbed the towers every evening&nbsp;to light the lamps &amp; wind the clocks.
          <ul><li>Oil lamps</li><li>Clockwork lenses</li></ul>
          <pre>SECRET-PRE</pre>
          <table><tr><td>SECRET-TABLE</td></tr></table>
          <!-- SECRET-COMMENT -->
          <p>Today most lights run on their own, checked from far away.</p>
        </article>
        <footer>SECRET-FOOTER</footer>
        </body></html>
        """)
    result = run_cli("draft", str(article), "-o", str(tmp_path / "harbour.yml"))
    assert result.returncode == 0, result.stderr
    data = check_script(tmp_path / "harbour.yml")
    text = narration(tmp_path / "harbour.yml")
    assert data["title"] == "Harbour lights"
    assert "SECRET" not in text and "https" not in text
    assert "boats find their way home past the breakwater." in text
    assert "to light the lamps & wind the clocks." in text and "Oil lamps. Clockwork lenses." in text
    assert "A harbour at night with fishing boats" in " ".join(s["prompts"] for s in data["scenes"])
    assert ("skipped: 1 code block, 1 table, 1 image (alt text used for prompts), 1 HTML comment, "
            "2 scripts or styles, 1 navigation block") in result.stdout


# --- scenes ------------------------------------------------------------------------------------


def test_long_sections_split_at_paragraphs_and_tiny_ones_merge(tmp_path):
    sentence = "The river rises slowly in the spring and the valley farmers watch it every morning. "
    long_section = "\n\n".join(sentence * 3 for _ in range(8))  # 8 paragraphs of 45 words: 360 words
    article = write(tmp_path / "river.md", f"# River\n\n## Spring\n\n{long_section}\n\n## Note\n\nShort.\n\n"
                                          f"## Summer\n\n{sentence * 4}\n")
    draft(article)
    scenes = scenes_of(tmp_path / "river.yaml")[1:]
    words = [len(s["narration"].split()) for s in scenes]
    assert all(MIN_WORDS <= w <= MAX_WORDS for w in words), words
    assert sum(words) == 360 + 1 + 60
    assert [s["id"] for s in scenes][:3] == ["spring", "spring-2", "spring-3"]
    assert "Short." in " ".join(s["narration"] for s in scenes)  # merged into a neighbour, not its own scene


def test_a_paragraph_longer_than_a_scene_splits_between_sentences(tmp_path):
    article = write(tmp_path / "wall.txt", "Wall of text\n\n" + "One more sentence about the weather today. " * 60)
    draft(article)
    words = [len(s["narration"].split()) for s in scenes_of(tmp_path / "wall.yaml")[1:]]
    assert sum(words) == 420 and max(words) <= MAX_WORDS and len(words) == 3


# --- writing, overwriting, bad input -----------------------------------------------------------


def test_refuses_to_overwrite_without_force(tmp_path):
    article = write(tmp_path / "a.md", "# A\n\nSome words about the sea and the ships that sail on it.\n")
    script = tmp_path / "a.yaml"
    script.write_text("mine\n")
    result = run_cli("draft", str(article))
    assert result.returncode == 2 and f"{script}: exists; pass --force to overwrite it" in result.stderr
    assert script.read_text() == "mine\n"
    result = run_cli("draft", str(article), "--force")
    assert result.returncode == 0, result.stderr
    assert "\n# Drafted by `storyboard draft` from a.md" in script.read_text()
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]


def test_never_writes_over_the_article(tmp_path):
    article = write(tmp_path / "a.md", "# A\n\nSome words about the sea and the ships that sail on it.\n")
    (tmp_path / "link.yaml").symlink_to(article)
    result = run_cli("draft", str(article), "-o", str(tmp_path / "link.yaml"), "--force")
    assert result.returncode == 2 and "is the article itself" in result.stderr
    result = run_cli("draft", str(article), "-o", str(tmp_path / "a.md"), "--force")
    assert result.returncode == 2 and "a script is written as .yaml or .yml" in result.stderr
    result = run_cli("draft", str(article), "-o", str(tmp_path), "--force")
    assert result.returncode == 2
    assert article.read_text().startswith("# A")


@pytest.mark.parametrize("name, content, reason", [
    ("missing.md", None, "no such file"),
    ("notes.pdf", b"%PDF-1.4", "unknown kind of article '.pdf'"),
    ("empty.md", b"", "nothing to narrate"),
    ("blank.txt", b"\n\n   \n", "nothing to narrate"),
    ("only-code.md", b"# Title\n\n```\nprint(1)\n```\n", "nothing to narrate: no paragraphs of prose (found 1 code block)"),
    ("latin1.md", "# Caf\u00e9\n\nA caf\u00e9 by the sea.\n".encode("latin-1"), "not UTF-8 text: byte 0xe9 at offset 5"),
    ("binary.txt", b"Title\n\nabc\x00def\n", "not a text file"),
])
def test_bad_articles_exit_2_naming_file_and_reason(tmp_path, name, content, reason):
    article = tmp_path / name
    if content is not None:
        article.write_bytes(content)
    result = run_cli("draft", str(article))
    assert result.returncode == 2
    assert f"storyboard: error: {article}: {reason}" in result.stderr, result.stderr
    assert not list(tmp_path.glob("*.yaml"))


def test_the_yaml_reads_back_exactly():
    for text in ['He said: "go" # now', "- a dash first: then a colon", "x" * 200, "ünïcødé, 東京 and emoji 🌀 " * 9,
                 "first paragraph is long enough to fold across lines for sure.\nsecond one", "  leading  spaces"]:
        assert yaml.safe_load("k: " + block(text, 6)) == {"k": text}


# --- prompts -----------------------------------------------------------------------------------


def test_extractive_prompts_name_what_sets_a_scene_apart():
    texts = ["The National Hurricane Center issues a watch. The National Hurricane Center tracks the storm.",
             "Fill sandbags and stack the sandbags by the door. The storm is coming.",
             "Check the generator outside, far from windows. The storm passes."]
    prompts = extractive_prompts(texts, ["Forecasts", "Sandbags", "Generators"], [[], ["a child with a torch"], []])
    assert prompts[0].startswith("National Hurricane Center")
    assert prompts[1].startswith("a child with a torch") and "sandbag" in prompts[1]
    assert "generator" in prompts[2] and "storm" not in prompts[2].split(", ")[0]


def test_clean_prompt_is_one_bounded_line():
    assert clean_prompt('  "a storm,\n\tover the sea"  ') == "a storm, over the sea"
    long = ", ".join(f"element number {i}" for i in range(40))
    assert len(clean_prompt(long)) <= MAX_PROMPT_CHARS and not clean_prompt(long).endswith(",")
    assert clean_prompt("*** ### ...") == ""


# --- --llm -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_llm(tmp_path_factory):
    """A random-weight GPT-2 of a few thousand parameters with a word-level tokenizer, saved to a folder."""
    pytest.importorskip("transformers")
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    from storyboard.draft.llm import INSTRUCTION

    known = re.findall(r"\w+|[^\w\s]", INSTRUCTION + " Heading Passage Prompt " + HURRICANE.read_text())
    words = ["[UNK]", "[PAD]", "[EOS]"] + sorted(set(known))  # no unknown words: the gibberish is words
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", eos_token="[EOS]")
    folder = tmp_path_factory.mktemp("tiny-llm")
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(words), n_positions=256, n_embd=16, n_layer=1, n_head=2,
                        bos_token_id=2, eos_token_id=2, pad_token_id=1)
    GPT2LMHeadModel(config).save_pretrained(folder)
    return folder


def test_llm_writes_the_prompts(tmp_path, tiny_llm):
    out = tmp_path / "hurricane.yaml"
    result = draft(HURRICANE, out, llm=str(tiny_llm))
    data = check_script(out)
    assert result.prompts.startswith(f"written by {tiny_llm}")
    assert f"{len(data['scenes'])} of {len(data['scenes'])} fell back" not in result.prompts  # some are the model's
    assert data["scenes"][0]["prompts"].endswith("title card")
    extractive = yaml.safe_load((ROOT / "examples" / "hurricane.yaml").read_text(encoding="utf-8"))["scenes"]
    assert [s["prompts"] for s in data["scenes"]] != [s["prompts"] for s in extractive]
    assert f"prompts: written by {tiny_llm}" in out.read_text(encoding="utf-8")


def test_llm_that_is_not_there_fails_in_seconds(tmp_path):
    article = write(tmp_path / "a.md", "# A\n\nSome words about the sea and the ships that sail on it.\n")
    import resource

    def children_cpu_s() -> float:  # CPU seconds of finished children: a busy machine slows the clock, not the work
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    started = children_cpu_s()
    env_offline = os.environ.get("HF_HUB_OFFLINE")
    assert env_offline == "1"  # conftest: the hub is never asked
    result = run_cli("draft", str(article), "--llm", "nobody-here/no-such-model")
    assert result.returncode == 2
    assert ("--llm nobody-here/no-such-model: not in the local Hugging Face cache, and HF_HUB_OFFLINE is set; download "
            "it first (hf download nobody-here/no-such-model) or pass a model folder") in result.stderr
    result = run_cli("draft", str(article), "--llm", str(tmp_path / "no" / "folder"))
    assert result.returncode == 2 and "no such model folder" in result.stderr
    assert children_cpu_s() - started < 60
    assert not (tmp_path / "a.yaml").exists()


def test_a_sentence_longer_than_a_scene_is_cut_between_clauses(tmp_path):
    clause = "and the wind kept blowing over the hills and the fields and the roofs of the town, "
    article = write(tmp_path / "run-on.txt", "Run on\n\n" + "It rained " + clause * 30 + "until morning.\n")
    draft(article)
    words = [len(s["narration"].split()) for s in scenes_of(tmp_path / "run-on.yaml")[1:]]
    assert sum(words) == 2 + 17 * 30 + 2 and max(words) <= MAX_WORDS and len(words) == 4


def test_llm_says_so_when_the_hub_cannot_be_reached(monkeypatch):
    """Not cached, not offline by setting, and no hub: a clear message after a short connection check
    (to a closed port on this machine, so nothing leaves it)."""
    pytest.importorskip("transformers")
    from storyboard.draft.llm import load_model
    from storyboard.errors import UsageError

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    import transformers  # noqa: F401  (imported before the clock starts: a busy machine takes seconds)

    started = time.monotonic()
    with pytest.raises(UsageError, match="not in the local Hugging Face cache, and the hub cannot be reached"):
        load_model("nobody-here/no-such-model")
    assert time.monotonic() - started < 15  # the connection check times out in 3 s; retries would take minutes
