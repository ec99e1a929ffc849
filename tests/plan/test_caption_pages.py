"""Long captions become timed pages of at most two lines, measured with the fonts that draw them;
the pages tile the caption's frames, and the SRT and the burn-in follow them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import run_cli, write
from hypothesis import given
from hypothesis import strategies as st

from storyboard.plan.captions import MIN_PAGE_S, READING_CPS, page_frames
from storyboard.plan.compile import compile_plan
from storyboard.script.load import load_script
from storyboard.typography.pager import CaptionPager
from storyboard.typography.text import (
    CAPTION_LINES,
    caption_layout,
    caption_pages,
    line_width,
    normalise,
    wrap,
)

ARTICLE = ("Sunlight is a mixture of every colour. Air is made of molecules far smaller than light's wavelength, "
           "so they scatter short waves far more than long ones. Blue light is scattered about five times more "
           "than red! Look away from the sun and you see scattered blue light; at sunset the blue is scattered "
           "away, and only orange and red remain.")


def vertical_script(folder: Path, caption: str, duration: str = "12s", captions: str = "both", at: str = "1s") -> Path:
    return write(folder / "v.yaml", f"""
        output: {{width: 1080, height: 1920, fps: 24, captions: {captions}}}
        scenes:
          - {{id: intro, duration: 2s, prompts: a red room}}
          - {{id: sky, duration: {duration}, prompts: a blue sky, caption: {{text: "{caption}", at: {at}}}}}
    """)


def test_a_long_caption_on_a_vertical_video_becomes_pages_of_two_lines(tmp_path):
    plan = compile_plan(load_script(vertical_script(tmp_path, ARTICLE)), pager=CaptionPager())
    pages = plan.captions
    size, max_width = caption_layout(1080, 1920)
    assert len(pages) >= 4
    assert " ".join(p.text for p in pages) == normalise(ARTICLE), "no word lost, none repeated"
    for page in pages:
        lines = wrap(page.text, size, max_width)
        assert 1 <= len(lines) <= CAPTION_LINES, lines
        assert all(line_width(line, size) <= max_width for line in lines)
    assert wrap(ARTICLE, size, max_width, CAPTION_LINES)[CAPTION_LINES:], "the whole caption needs more than two lines"


def test_pages_split_at_sentence_ends_first():
    pages = caption_pages(ARTICLE, 1080, 1920)
    sentence_ends = [p for p in pages if p.endswith((".", "!"))]
    assert "Sunlight is a mixture of every colour." in pages  # a sentence that fits is a page of its own
    assert len(sentence_ends) >= 3
    assert all(p.endswith((".", "!", ",", ";")) for p in pages), "long sentences split at clauses"


def test_pages_tile_the_caption_frames_in_proportion_to_their_length(tmp_path):
    plan = compile_plan(load_script(vertical_script(tmp_path, ARTICLE)), pager=CaptionPager())
    pages, scene = plan.captions, plan.scenes[1]
    assert pages[0].start == scene.start + 24 and pages[-1].end == scene.end  # at: 1s, to the scene's end
    assert all(a.end == b.start for a, b in zip(pages, pages[1:]))
    frames = scene.end - pages[0].start
    total = sum(max(len(p.text), MIN_PAGE_S * READING_CPS) for p in pages)
    for p in pages:
        assert p.scene == 1 and p.end > p.start
        assert abs((p.end - p.start) - frames * max(len(p.text), MIN_PAGE_S * READING_CPS) / total) <= 1.5


def test_a_short_page_gets_the_time_it_takes_to_read_when_the_caption_has_it():
    """'Finally,' is 8 characters: by length alone it would get 8/68 of 3 s (0.35 s), under the 0.5 s a
    page needs; it is weighted as the time it takes to read instead."""
    pages = ["Finally,", "the blue is scattered away, and only orange and red remain."]
    (a, b), (_, c) = page_frames(pages, 0, 72)
    assert b - a >= MIN_PAGE_S * 24 and c == 72
    assert (c - b) / 24 >= len(pages[1]) / READING_CPS


def test_what_is_left_of_a_split_clause_joins_the_next_clause():
    """A clause too long for a page is split between lines; its last line stays open for the next
    clause, so no page is a stray word or two ('side),' was shown for 0.38 s)."""
    text = ("Each page fits two lines in the middle 90% of the frame's width at the burn-in's text size (1/18 of the "
            "frame's shorter side), measured with the fonts that draw it.")
    pages = caption_pages(text, 1280, 720)
    assert " ".join(pages) == normalise(text)
    assert len(pages) == 2 and pages[1].endswith("side), measured with the fonts that draw it."), pages
    assert all(len(p.split()) >= 3 for p in pages)


def test_the_srt_has_a_cue_per_page(tmp_path):
    from storyboard.render.compose import write_srt

    plan = compile_plan(load_script(vertical_script(tmp_path, ARTICLE)), pager=CaptionPager())
    srt = write_srt(plan, tmp_path / "v.srt").read_text(encoding="utf-8")
    cues = [block for block in srt.split("\n\n") if block.strip()]
    assert len(cues) == len(plan.captions) >= 4
    assert cues[0].splitlines()[2] == plan.captions[0].text


def test_burn_in_draws_each_page_whole(tmp_path):
    """Every page burnt in shows all its lines: as tall as two lines, never cut to the first sentence."""
    from storyboard.typography.drawing import burn_caption

    plan = compile_plan(load_script(vertical_script(tmp_path, ARTICLE)), pager=CaptionPager())
    frame = np.zeros((1920, 1080, 3), np.uint8)
    size, _ = caption_layout(1080, 1920)
    for page in plan.captions:
        out = burn_caption(frame, page.text)
        rows = np.flatnonzero((out > 128).any(axis=(1, 2)))  # the white text, not the dark box
        two_lines = len(wrap(page.text, size, caption_layout(1080, 1920)[1])) == 2
        assert (rows[-1] - rows[0] > 1.2 * size) == two_lines


def test_a_short_caption_stays_one_caption_as_written(tmp_path):
    plan = compile_plan(load_script(vertical_script(tmp_path, "Hello\\nthere")), pager=CaptionPager())
    assert [(c.text, c.start, c.end) for c in plan.captions] == [("Hello\nthere", 72, 336)]


def test_cjk_captions_without_spaces_split_too():
    text = "天空是蓝色的，因为空气中的分子散射了更多的蓝光。" * 6
    pages = caption_pages(text, 1080, 1920)
    size, max_width = caption_layout(1080, 1920)
    assert len(pages) > 1 and "".join(pages) == text
    assert all(len(wrap(p, size, max_width)) <= CAPTION_LINES for p in pages)


@given(st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=12), st.integers(0, 50), st.integers(0, 400))
def test_page_frames_tile_exactly(pages, start, extra):
    end = start + len(pages) + extra
    spans = page_frames(pages, start, end)
    assert spans[0][0] == start and spans[-1][1] == end
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert all(e - s >= 1 for s, e in spans)


def test_fewer_frames_than_pages_keeps_every_word(tmp_path):
    plan = compile_plan(load_script(vertical_script(tmp_path, ARTICLE, duration="3f", at="0s")), pager=CaptionPager())
    assert [(c.start, c.end) for c in plan.captions] == [(48, 49), (49, 50), (50, 51)]
    assert " ".join(c.text for c in plan.captions) == normalise(ARTICLE), "the last frame's page keeps the rest"


@pytest.mark.parametrize("duration, warned", [("20s", False), ("3s", True)])
def test_validate_warns_when_pages_are_too_fast_to_read(tmp_path, duration, warned):
    result = run_cli("validate", str(vertical_script(tmp_path, ARTICLE, duration=duration)))
    assert result.returncode == 0, result.stderr
    assert ("scene 'sky': the caption is too fast to read" in result.stderr) == warned, result.stderr


def test_the_plan_says_which_fonts_its_pages_were_measured_with(tmp_path):
    """Pages depend on the installed fonts, so the plan names them (in the order tried); a plan compiled
    without a pager measures nothing: each caption is one page, and it names no fonts."""
    from storyboard.typography.text import font_files

    script = load_script(vertical_script(tmp_path, ARTICLE))
    paged = compile_plan(script, pager=CaptionPager())
    expected = [f.path.name + (f"#{f.index}" if f.index else "") for f in font_files()] or ["Pillow's built-in font"]
    assert list(paged.caption_fonts) == expected
    assert paged.to_json()["caption_fonts"] == expected
    whole = compile_plan(script)
    assert [c.text for c in whole.captions] == [ARTICLE]
    assert whole.caption_fonts == () and "caption_fonts" not in whole.to_json()


def test_a_plan_without_captions_names_no_fonts(tmp_path):
    plan = compile_plan(load_script(write(tmp_path / "s.yaml", "scenes:\n  - {duration: 1s, prompts: a}\n")),
                        pager=CaptionPager())
    assert plan.caption_fonts == () and "caption_fonts" not in plan.to_json()
