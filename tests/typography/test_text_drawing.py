"""Text on frames: every script gets real glyphs from the fonts installed with the package,
right-to-left text comes out right to left, and characters no font has are named by validate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import run_cli, write

from storyboard.typography import text as T
from storyboard.typography.drawing import burn_caption, draw_line, text_patch
from storyboard.typography.text import (
    Run,
    cjk_installed,
    font_files,
    itemize,
    missing_characters,
    visual_runs,
)

SIZE = 40
NO_FONT = "\U00013000"  # EGYPTIAN HIEROGLYPH A001: no font of the chain has it
SAMPLES = ["é", "ñ", "Ж", "λ", "中", "א", "ع"]


def ink(text: str, size: int = SIZE) -> np.ndarray:
    """Where ``text`` puts white ink (a boolean mask, cropped to the ink)."""
    mask = np.asarray(text_patch(text, size, 2000, box_alpha=0))[:, :, 0] > 128
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    assert rows.size, f"{text!r} drew nothing"
    return mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def same_glyph(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.mean(a != b) < 0.02


@pytest.fixture
def fresh_caches():
    """Clear what depends on the font chain or the layout engine, before and after (ask for it before
    monkeypatch, so that it clears after monkeypatch has undone its changes)."""
    def clear():
        for f in (T.font_files, T.coverage, T.font_for, T.raqm, T._holds_runs, T._face, T._run_width, T.itemize,
                  text_patch):
            f.cache_clear()
    clear()
    yield
    clear()


def test_the_fonts_come_from_installed_packages_not_the_system():
    files = font_files()
    assert files[0].path.name == "NotoSans[wght].ttf"
    assert all("site-packages" in str(f.path) or "dist-packages" in str(f.path) for f in files)
    assert not any(str(f.path).startswith("/usr/share/fonts") for f in files)
    assert set(range(0x20, 0x7F)) <= T.coverage(0), "ASCII is assumed drawn by the first font"


@pytest.mark.parametrize("char", SAMPLES)
def test_each_script_is_drawn_with_a_real_glyph_not_a_box(char):
    if char == "中" and not cjk_installed():
        pytest.skip("the cjk extra is not installed")
    assert missing_characters(char) == []
    box = ink(NO_FONT)
    assert not same_glyph(ink(char), box), f"{char!r} came out as the missing-glyph box"


def test_the_glyphs_of_different_scripts_differ_from_each_other():
    chars = [c for c in SAMPLES if c != "中" or cjk_installed()]
    glyphs = {c: ink(c) for c in chars}
    for i, a in enumerate(chars):
        for b in chars[i + 1:]:
            assert not same_glyph(glyphs[a], glyphs[b]), f"{a!r} and {b!r} look the same"


def test_a_mixed_line_draws_every_script_in_one_patch():
    line = " ".join(c for c in SAMPLES if c != "中" or cjk_installed())
    used = {p.font for p in visual_runs(itemize(line), 0, len(line))}
    assert len(used) >= 3, "Latin/Greek/Cyrillic, Hebrew and Arabic each come from their own font"
    assert ink(line).shape[1] > 5 * SIZE


def position_of(glyph: str, text: str) -> int:
    """The column where ``glyph`` (drawn alone) best matches inside ``text``'s drawing."""
    whole = np.asarray(text_patch(text, SIZE, 2000, box_alpha=0))[:, :, 0] > 128
    alone = np.asarray(text_patch(glyph, SIZE, 2000, box_alpha=0))[:, :, 0] > 128
    assert whole.shape[0] == alone.shape[0], "one line, one height"
    cols = np.flatnonzero(alone.any(axis=0))
    template = alone[:, cols[0]:cols[-1] + 1]
    width = template.shape[1]
    errors = [np.sum(whole[:, x:x + width] != template) for x in range(whole.shape[1] - width + 1)]
    return int(np.argmin(errors))


@pytest.mark.parametrize("first, second", [("א", "ב"), ("د", "ر")], ids=["hebrew", "arabic"])
def test_right_to_left_text_puts_its_first_letter_rightmost(first, second):
    """Alef then bet; dal then reh (neither joins the next letter, so both keep their own form)."""
    assert position_of(first, first + second) > position_of(second, first + second)
    assert position_of("a", "ab") < position_of("b", "ab")


def test_right_to_left_text_without_raqm_is_still_right_to_left(fresh_caches, monkeypatch):
    monkeypatch.setattr(T, "raqm", lambda: False)
    assert T.drawable(Run("אב", 0, True)) == ("בא", None)
    assert position_of("א", "אב") > position_of("ב", "אב")


def test_arabic_is_shaped_into_joined_forms():
    if not T.raqm():
        pytest.skip("Pillow has no RAQM layout here")
    isolated = T.line_width("ب", SIZE)
    assert T.line_width("ببب", SIZE) < 0.8 * 3 * isolated, "beh joined: its initial and medial forms are narrow"


def test_runs_are_ordered_by_the_bidi_algorithm():
    def visual(text: str) -> list[str]:
        return [p.text.strip() for p in visual_runs(itemize(text), 0, len(text)) if p.text.strip()]

    assert visual("Hello שלום world") == ["Hello", "שלום", "world"]
    assert visual("שלום world עולם") == ["עולם", "world", "שלום"]  # a right-to-left paragraph
    assert visual("שלום 123 עולם") == ["עולם", "123", "שלום"]


def test_bidi_levels_follow_the_unicode_algorithm_through_numbers_joiners_and_isolates():
    arabic, zwj, rli, pdi = "\u0645\u0631\u062d\u0628\u0627", "\u200d", "\u2067", "\u2069"
    assert T.bidi_levels(f"{arabic} 12.5") == (True, (1,) * 6 + (2,) * 4), "W4: 12.5 is one number"
    assert T.bidi_levels(f"a {arabic}{zwj}{arabic} b") == (False, (0, 0) + (1,) * 11 + (0, 0)), \
        "a joiner inside Arabic stays in its run"
    assert T.bidi_levels(f"a{rli}\u05e9\u05dc{pdi}b") == (False, (0, 0, 1, 1, 0, 0)), "isolates resolve as neutrals"


def test_emoji_are_drawn_by_the_emoji_font_and_spaces_stay_with_the_text():
    text = "hi 😀 there"
    a = itemize(text)
    assert missing_characters(text) == []
    assert font_files()[a.fonts[3]].path.name.startswith("NotoEmoji")
    assert a.fonts[4] == a.fonts[5] == 0, "the space after an emoji is the text font's"


def test_text_patches_are_cached():
    assert text_patch("Привет, мир", SIZE, 500) is text_patch("Привет, мир", SIZE, 500)


def test_a_header_line_draws_non_ascii_text():
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (400, 60))
    draw_line(ImageDraw.Draw(image), (5, 5), "scène Ж 1", 30)
    assert np.asarray(image).max() > 200


def test_burnt_captions_fit_the_safe_area_of_a_vertical_frame():
    frame = np.zeros((1920, 1080, 3), np.uint8)
    out = burn_caption(frame, "A fairly long caption that fills the whole width of the vertical frame easily")
    cols = np.flatnonzero((out != 0).any(axis=(0, 2)))
    assert cols[0] >= 1080 * 0.05 - 1 and cols[-1] <= 1080 * 0.95 + 1


def test_missing_characters_are_named():
    assert missing_characters("é ñ Ж λ א ع 😀 ok") == []
    assert missing_characters(f"a{NO_FONT}b{NO_FONT}") == [NO_FONT]


def test_validate_names_characters_no_font_can_draw(tmp_path: Path):
    script = write(tmp_path / "s.yaml", f"""
        output: {{width: 256, height: 144, fps: 12, captions: burn}}
        scenes:
          - {{id: hello, duration: 2s, prompts: a red room, caption: "Smile 😀 {NO_FONT}"}}
          - {{id: two, duration: 2s, prompts: "a statue {NO_FONT}"}}
    """)
    result = run_cli("validate", str(script))
    assert result.returncode == 0, result.stderr
    assert "scene 'hello' caption: no installed font has U+13000" in result.stderr
    assert "scene 'two' prompt 1: no installed font has U+13000" in result.stderr
    assert "U+1F600" not in result.stderr, "the emoji font draws it"


def test_without_the_cjk_extra_validate_says_how_to_get_it(tmp_path: Path, fresh_caches, monkeypatch):
    from storyboard.pipeline import plan_script
    from storyboard.script.load import load_script

    without_cjk = tuple(f for f in T.font_files() if f.path.name != T.CJK_FILE)
    monkeypatch.setattr(T, "font_files", lambda: without_cjk)
    assert missing_characters("中文") == ["中", "文"]
    script = write(tmp_path / "s.yaml", """
        output: {width: 256, height: 144, fps: 12, captions: both}
        scenes:
          - {id: zh, duration: 2s, prompts: a red room, caption: 中文}
    """)
    warnings = plan_script(load_script(script)).warnings
    assert any("scene 'zh' caption" in w and "U+4E2D" in w and "storyboard[cjk]" in w for w in warnings), warnings
