"""`storyboard draft` on hostile, large and messy articles (issue 25, items 7 and 17)."""

from __future__ import annotations

import time

import pytest
import yaml

from storyboard.draft import draft
from storyboard.draft.article import read_article
from storyboard.draft.scenes import MAX_DRAFT_S, scene_drafts
from storyboard.errors import UsageError
from storyboard.script.timecode import MAX_VIDEO_S


def _scenes(path):
    text = path.read_text(encoding="utf-8")
    return yaml.safe_load(text)["scenes"], text


def test_ten_thousand_headings_merge_in_linear_time(tmp_path):
    """Merging short sections was quadratic (2,000 headings: 46 s; 10,000 did not finish in 120 s)."""
    article = tmp_path / "many.md"
    article.write_text("# Many\n\n" + "".join(f"## Part {i}\n\nA short line of words number {i}.\n\n"
                                              for i in range(10_000)), encoding="utf-8")
    parsed = read_article(article)
    start = time.process_time()
    scenes = scene_drafts(parsed)
    spent = time.process_time() - start
    assert spent < 10, spent  # about 0.3 s; the quadratic merge took minutes
    assert sum(s.words for s in scenes) == parsed.words
    assert all(50 <= s.words <= 150 for s in scenes[:-1])


def test_deeply_nested_skipped_tags_are_read_in_linear_time(tmp_path):
    article = tmp_path / "nested.html"
    article.write_text("<h1>Nested</h1><p>" + "Words to say aloud here. " * 20 + "</p>"
                       + "<pre>" * 200_000 + "</pre>" * 200_000 + "<p>After the code, more words.</p>", encoding="utf-8")
    start = time.process_time()
    parsed = read_article(article)
    assert time.process_time() - start < 20  # about 2 s; was past 120 s
    assert parsed.skipped["code block"] == 1
    assert parsed.sections[-1].paragraphs[-1].text == "After the code, more words."


def test_an_alias_bomb_in_front_matter_is_refused_not_expanded(tmp_path):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    article = tmp_path / "bomb.md"
    article.write_text("---\n" + "\n".join(lines) + "\ntitle: Bomb\n---\n\nSome prose to narrate here.\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"bomb\.md:\d+: front matter: the document expands to more than 200000 values"):
        read_article(article)


def test_front_matter_that_is_not_a_mapping_is_ignored(tmp_path):
    article = tmp_path / "list.md"
    article.write_text("---\n- a\n- b\n---\n# Real title\n\nSome prose to narrate here.\n", encoding="utf-8")
    assert read_article(article).title == "Real title"


def test_a_huge_article_stops_at_the_scripts_length_limit_with_a_warning(tmp_path):
    """5 MB of prose became a 98-hour script that validate then began to synthesise."""
    paragraph = "The river runs past the old mill and on into the valley below the town. " * 10
    words = 140 * 8000  # far past 24 h at 150 words a minute
    article = tmp_path / "huge.txt"
    article.write_text("Huge\n\n" + "\n\n".join([paragraph] * (words // 140)), encoding="utf-8")
    result = draft(article, tmp_path / "huge.yaml")
    assert result.words * 60 / 150 < MAX_DRAFT_S < MAX_VIDEO_S
    assert result.left_out > 0 and result.left_out + result.words - 2 >= words - 150  # title card: "Huge."
    assert ("warning: the article is too long for one script: the draft stops after about 20 hours of narration; "
            f"{result.left_out:,}".replace(",", "") in result.summary().replace(",", ""))
    assert "of the article) were left out" in result.summary()


def test_emoji_and_giant_words_never_become_narration(tmp_path):
    article = tmp_path / "emoji.md"
    article.write_text("# Emoji 🎉\n\n## Party 🎈\n\n🎉🎉🎉 🥳🏽 ✨\n\n" + "x" * 5000 + "\n\n"
                       + "We met at noon 🎉 and talked about the plan for the weekend trip to the lake with friends. " * 4
                       + "\n\nIt costs $5 + tax.\n", encoding="utf-8")
    draft(article, tmp_path / "emoji.yaml")
    scenes, text = _scenes(tmp_path / "emoji.yaml")
    assert "🎉" not in text and "🥳" not in text and "✨" not in text and "xxxxxxxxxx" not in text
    assert scenes[0]["narration"] == "Emoji."
    assert [s["narration"].split()[:4] for s in scenes[1:]] == [["We", "met", "at", "noon"]]
    assert "It costs $5 + tax." in scenes[1]["narration"]


def test_an_article_of_only_emoji_is_refused(tmp_path):
    article = tmp_path / "only.md"
    article.write_text("# Only\n\n🎉🎉🎉\n\n" + "y" * 100 + "\n", encoding="utf-8")
    with pytest.raises(UsageError, match="nothing to narrate"):
        read_article(article)


def test_image_captions_and_credits_are_not_narrated(tmp_path):
    article = tmp_path / "captions.md"
    prose = "The harbour was quiet that morning, and the boats sat still on the grey water by the wall. " * 3
    article.write_text(f"# Harbour\n\n{prose}\n\n![Boats at dawn](boats.jpg)\n\n*Image taken from [here](https://x.org).*\n\n"
                       f"Photo: Jane Doe / Unsplash\n\n{prose}\n\n<figure><img src='a.png' alt='a pier'>"
                       "<figcaption>The pier in 1910.</figcaption></figure>\n", encoding="utf-8")
    result = draft(article, tmp_path / "captions.yaml")
    scenes, _ = _scenes(tmp_path / "captions.yaml")
    narration = " ".join(s["narration"] for s in scenes)
    assert "taken from" not in narration and "Jane Doe" not in narration and "1910" not in narration
    assert result.skipped == "2 images (alt text used for prompts), 3 image captions"


def test_a_lists_lead_in_stays_with_its_list(tmp_path):
    article = tmp_path / "list.md"
    filler = "Storms can turn quickly, and a family that has planned ahead loses less and worries less. " * 6
    article.write_text(f"# Kit\n\n{filler}\n\nYou will need the following:\n\n- water for three days\n- a torch\n"
                       "- a radio\n", encoding="utf-8")
    draft(article, tmp_path / "list.yaml")
    scenes, _ = _scenes(tmp_path / "list.yaml")
    holding = [s["narration"] for s in scenes if "the following:" in s["narration"]]
    assert len(holding) == 1 and holding[0].endswith("the following: Water for three days. A torch. A radio.")


def test_the_schema_line_resolves_offline(tmp_path):
    """The $schema modeline named an address that serves nothing; outside a checkout the draft now says
    how to write the schema beside the script, inside one it names the shipped file by a relative path."""
    article = tmp_path / "a.md"
    article.write_text("# A\n\n" + "Words that a voice can say aloud. " * 20 + "\n", encoding="utf-8")
    draft(article, tmp_path / "a.yaml")
    text = (tmp_path / "a.yaml").read_text(encoding="utf-8")
    assert "https://" not in text and not text.startswith("# yaml-language-server")
    assert text.splitlines()[:2] == [
        "# JSON Schema for your editor: storyboard schema -o storyboard.schema.json, then make the first line",
        "#   '# yaml-language-server: $schema=storyboard.schema.json'"]
