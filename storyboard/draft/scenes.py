"""Cut an article into scenes of about 20 to 60 seconds of speech.

At :data:`~storyboard.draft.prose.WORDS_PER_MINUTE` (150) that is :data:`MIN_WORDS` to
:data:`MAX_WORDS` words. A section longer than a scene is split at paragraph boundaries into
scenes of even length (a paragraph longer than a scene is split between sentences first);
a scene shorter than :data:`MIN_WORDS` is merged into a neighbour (its own section's first)
when the two fit in a scene.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from storyboard.draft.outline import Article, Paragraph, Section
from storyboard.draft.prose import sentences, slug, word_count
from storyboard.script.timecode import MAX_VIDEO_S

MIN_WORDS = 50  # 20 s of speech
MAX_WORDS = 150  # 60 s of speech
TINY_WORDS = MIN_WORDS // 2  # a scene this short (10 s) may stretch its neighbour a little past MAX_WORDS
TINY_STRETCH = 1.25
# The longest narration a draft holds (seconds at WORDS_PER_MINUTE): the script's 24 h limit
# (storyboard.script.timecode.MAX_VIDEO_S) less a margin for a slower voice, pauses and padding.
MAX_DRAFT_S = MAX_VIDEO_S * 5 / 6  # 20 h
SCENE_OVERHEAD_S = 1.0  # each scene's padding (0.5 s) and a margin for its crossfade and pauses


@dataclass
class SceneDraft:
    """A scene's worth of the article: its paragraphs, each with the section it comes from."""

    parts: list[tuple[int, Paragraph]]  # (index of the article's section, paragraph), in reading order
    headings: dict[int, str | None]  # the headings of those sections
    id: str = ""

    @property
    def paragraphs(self) -> list[Paragraph]:
        return [p for _, p in self.parts]

    @property
    def sections(self) -> list[int]:
        return list(dict.fromkeys(i for i, _ in self.parts))

    @property
    def words(self) -> int:
        return sum(p.words for _, p in self.parts)

    @property
    def text(self) -> str:
        """The narration: paragraphs separated by a line break."""
        return "\n".join(p.text for _, p in self.parts)

    @property
    def images(self) -> list[str]:
        return [alt for _, p in self.parts for alt in p.images]

    @property
    def heading(self) -> str | None:
        """The heading of the section it draws most words from (the first, on a tie)."""
        weights: dict[int, int] = {}
        for index, paragraph in self.parts:
            weights[index] = weights.get(index, 0) + paragraph.words
        return self.headings[max(weights, key=lambda i: (weights[i], -i))]


def scene_drafts(article: Article) -> list[SceneDraft]:
    """The article's scenes in order, each with a unique id (never ``title``, the title card's)."""
    scenes = [SceneDraft([(index, p) for p in group], {index: section.title})
              for index, section in enumerate(article.sections) for group in split_section(section)]
    scenes = merge_short(scenes)
    name_scenes(scenes)
    return scenes


def within_limit(scenes: list[SceneDraft], limit_s: float = MAX_DRAFT_S) -> list[SceneDraft]:
    """The first ``scenes`` whose narration (at WORDS_PER_MINUTE, plus :data:`SCENE_OVERHEAD_S` each)
    fits in ``limit_s`` seconds; the caller says how much was left out."""
    from storyboard.draft.prose import seconds_of_speech

    total = 0.0
    for count, scene in enumerate(scenes):
        total += seconds_of_speech(scene.words) + SCENE_OVERHEAD_S
        if total > limit_s:
            return scenes[:count]
    return scenes


def pieces(paragraph: Paragraph) -> list[Paragraph]:
    """A paragraph longer than a scene as runs of whole sentences of even length (its images go with
    the first); a sentence longer than a scene is cut between clauses, or at last between words."""
    if paragraph.words <= MAX_WORDS:
        return [paragraph]
    parts = [part for sentence in sentences(paragraph.text) for part in _short_parts(sentence)]
    groups = even_groups([word_count(s) for s in parts], MAX_WORDS)
    out = [Paragraph(" ".join(parts[i] for i in group)) for group in groups]
    out[0].images = list(paragraph.images)
    return out


def _short_parts(sentence: str) -> list[str]:
    """``sentence`` in parts of at most :data:`MAX_WORDS` words: whole when it fits, else its clauses
    (cut after , ; : and dashes), a clause still too long in runs of words."""
    if word_count(sentence) <= MAX_WORDS:
        return [sentence]
    out = []
    for clause in re.split(r"(?<=[,;:–—])\s+", sentence):
        words = clause.split()
        out += [" ".join(words[i:i + MAX_WORDS]) for i in range(0, len(words), MAX_WORDS)]
    return out


def split_section(section: Section) -> list[list[Paragraph]]:
    """A section's paragraphs in groups of at most :data:`MAX_WORDS` words (unless one paragraph is
    longer still), as even as whole paragraphs allow."""
    units = [piece for paragraph in section.paragraphs for piece in pieces(paragraph)]
    groups = even_groups([u.words for u in units], MAX_WORDS)
    return [[units[i] for i in group] for group in groups]


def even_groups(sizes: list[int], limit: int) -> list[list[int]]:
    """Indices of ``sizes`` in consecutive groups: as few groups as ``limit`` allows, and within
    that count the smallest largest group (found by bisecting the capacity)."""
    if not sizes:
        return []
    count = max(1, math.ceil(sum(sizes) / limit))
    low, high = max(sizes), max(max(sizes), sum(sizes))
    while low < high:  # the smallest capacity that packs into `count` groups (or the fewest groups possible)
        middle = (low + high) // 2
        if len(_pack(sizes, middle)) <= count:
            high = middle
        else:
            low = middle + 1
    return _pack(sizes, low)


def _pack(sizes: list[int], capacity: int) -> list[list[int]]:
    groups: list[list[int]] = [[]]
    total = 0
    for i, size in enumerate(sizes):
        if groups[-1] and total + size > capacity:
            groups.append([])
            total = 0
        groups[-1].append(i)
        total += size
    return groups


def merge_short(scenes: list[SceneDraft]) -> list[SceneDraft]:
    """Merge each scene under :data:`MIN_WORDS` (shortest first, the earliest on a tie) into the
    neighbour it fits with, preferring its own section, then the shorter result; a scene that fits
    with neither stays. Linear in scenes up to a log factor: a heap of short scenes, neighbours as
    a linked list (scenes only grow, so a scene that fits nowhere never fits later)."""
    import heapq

    n = len(scenes)
    live: list[SceneDraft | None] = list(scenes)
    words = [s.words for s in scenes]
    prev = list(range(-1, n - 1))
    nxt = list(range(1, n + 1))
    heap = [(words[i], i) for i in range(n) if words[i] < MIN_WORDS]
    heapq.heapify(heap)
    while heap:
        size, i = heapq.heappop(heap)
        if live[i] is None or words[i] != size:
            continue  # merged away, or grown since it was pushed
        limit = MAX_WORDS * (TINY_STRETCH if size < TINY_WORDS else 1)
        options = [j for j in (prev[i], nxt[i]) if 0 <= j < n and size + words[j] <= limit]
        if not options:
            continue  # settled: its neighbours only grow
        scene = live[i]
        j = min(options, key=lambda k: (live[k].sections[-1] != scene.sections[0] if k < i
                                         else live[k].sections[0] != scene.sections[-1], words[k]))
        first, second = (j, i) if j < i else (i, j)
        live[first] = _joined(live[first], live[second])
        words[first] += words[second]
        live[second] = None
        nxt[first] = nxt[second]
        if nxt[second] < n:
            prev[nxt[second]] = first
        if words[first] < MIN_WORDS:
            heapq.heappush(heap, (words[first], first))
    return [s for s in live if s is not None]


def _joined(a: SceneDraft, b: SceneDraft) -> SceneDraft:
    return SceneDraft(a.parts + b.parts, {**a.headings, **b.headings})


def name_scenes(scenes: list[SceneDraft]) -> None:
    """Give each scene an id from its main heading (``make-a-plan``, ``make-a-plan-2``, ...), ``intro``
    for the text before the first heading, ``part-N`` where a heading has no ASCII letters."""
    used = {"title"}
    for number, scene in enumerate(scenes, start=1):
        heading = scene.heading
        base = slug(heading) if heading else ("intro" if scene.sections[0] == 0 else "")
        base = base or f"part-{number}"
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name)
        scene.id = name
