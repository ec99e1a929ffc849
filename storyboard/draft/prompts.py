"""Visual prompts from each scene's text, offline and extractive.

No tagger, no downloads: a small heuristic that works on any English prose.

* **Candidates** are runs of content words: the text is cut at punctuation and at stopwords
  (function words, and the common verbs, adverbs and vague adjectives that rarely name
  something visible), so what is left is mostly noun phrases: ``evacuation zone``,
  ``National Hurricane Center``. Phrases of one to three words are drawn from each run.
* **Weights** are TF-IDF across the scenes: a word counts for how often it appears in this
  scene (its heading's words count twice more) and for how few other scenes use it, so each
  scene's prompt names what sets it apart. A phrase's score is the sum of its words' weights
  over the square root of its length (longer phrases are favoured, but not without limit),
  and a term written with capitals in mid-sentence (a name) counts half again.
* **Picking**: the best phrases whose words are not already covered, up to :data:`MAX_PHRASES`;
  the alt texts of the scene's images come first, since someone wrote them to describe a picture.

Prompts are cleaned by :func:`clean_prompt`: one line, at most :data:`MAX_PROMPT_CHARS`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from storyboard.draft.prose import CONTROL

MAX_PHRASES = 4
MAX_ALT_TEXTS = 2
MAX_PROMPT_CHARS = 200
TOKEN = re.compile(r"[^\W\d_][\w'’-]*[^\W_]|[^\W\d_]|\d[\d.,]*|[^\w\s]")
SENTENCE_END = {".", "!", "?", ":", ";", "…"}
STOPWORDS = frozenset("""
a about above across after afterwards again against ago ahead all almost alone along already also although always am
among amongst an and another any anybody anyhow anyone anything anyway anywhere are aren't around as aside at away
back be became because become becomes becoming been before beforehand behind being below beside besides best better
between beyond both but by can can't cannot could couldn't did didn't do does doesn't doing don't done down during
each either else elsewhere enough etc even ever every everybody everyone everything everywhere except few for
former formerly from further had hadn't has hasn't have haven't having he he'd he'll he's hence her here here's hers
herself him himself his how however i i'd i'll i'm i've if in indeed instead into is isn't it it's its itself just
last latter least less let let's like likely lot lots many may maybe me meanwhile might mine more moreover most mostly
much must mustn't my myself namely near nearly neither never nevertheless next no nobody none noone nor not nothing
now nowhere of off often on once one ones only onto or other others otherwise our ours ourselves out over own per
perhaps please quite rather really same several shall shan't she she'd she'll she's should shouldn't since so some
somebody somehow someone something sometime sometimes somewhere soon still such than that that's the their theirs
them themselves then thence there there's thereafter thereby therefore these they they'd they'll they're they've
thing things this those though through throughout thus to together too toward towards under until up upon us very via
was wasn't we we'd we'll we're we've well were weren't what what's whatever when whence whenever where where's
whereas wherever whether which while who who's whoever whole whom whose why will with within without won't would
wouldn't yet you you'd you'll you're you've your yours yourself yourselves
able add added adds allow allows ask asked asks bring brings call called calls came come comes coming consider could
decide decides did does doing done don't each easy ensure enough feel find finds found gave get gets getting give given
gives go goes going gone good got great happen happens hard help helps hold holds keep keeps kept know knows known
large later leave leaves left less let lets little long look looks made make makes making matter mean means meant
might mind move moves much need needed needs new next old once open own part parts plan plans put puts rather
read ready real right run runs said same say says see seen sees seem seems set sets show shows small sort start
starts stay stays still sure take takes taken taking tell tells thing think thinks three try tries turn turns two
use used uses using want wants way ways went whole work works write writes written yes
lost took went began brought kept left told became chose thought wrote held ran sat stood felt met paid sent spent
built caught fell broke end ends kind kinds lot example examples instance case cases time times day days way
outside inside indoors outdoors inland upstairs downstairs far live lives alive instead early late soon
also about actually almost always certainly clearly especially exactly fairly generally just largely mainly nearly
often only perhaps possibly probably quickly rarely really simply slightly usually
""".split())

# Common verbs (with their -s, -ed and -ing forms, see _verb_forms): a run of "nouns" often hides one.
VERBS = """accept achieve act agree allow appear apply arrive assume avoid become believe belong bend blow break bring
build buy care carry catch cause check choose clean close compare contain continue cost count create cut deal
decide depend describe destroy develop die drive drop eat enjoy enter expect explain fail fall fill finish fit fix
follow forget gain grow happen hate hear help hide hit hope improve include increase intend involve join jump kill
land lead learn lie lift listen live lose love manage mark meet miss need notice offer pass pay pick play prefer
prepare prevent produce protect prove provide publish pull push raise reach realise realize receive reduce remain
remember remove replace report require rest return rise save sell send serve share shout sit sleep speak spend
stand stop suggest supply support suppose sweep talk teach tend test throw touch travel treat understand vary wait
walk wash watch win wish wonder worry look seem feel keep turn show try ask call work start bring find think tell
want help play hold shine"""


def _verb_forms(bases: str) -> frozenset[str]:
    """Each verb with -s/-es, -ed/-d and -ing added (and a final e dropped before -ing)."""
    out = set()
    for verb in bases.split():
        stem = verb[:-1] if verb.endswith("e") else verb
        out |= {verb, verb + ("es" if verb.endswith(("s", "sh", "ch", "x")) else "s"),
                verb + ("d" if verb.endswith("e") else "ed"), stem + "ing"}
    return frozenset(out)


STOPWORDS = STOPWORDS | _verb_forms(VERBS)


@dataclass(frozen=True)
class _Phrase:
    words: tuple[str, ...]  # as written
    key: tuple[str, ...]  # normalised
    proper: bool  # capitalised in mid-sentence: a name


def clean_prompt(text: str, limit: int = MAX_PROMPT_CHARS) -> str:
    """One line of prompt: no line breaks, quotes, list markers or markup; whitespace collapsed; cut
    at a comma or word to at most ``limit`` characters; '' if no letters are left."""
    text = CONTROL.sub(" ", text.replace("\n", " ").replace("\t", " "))
    text = re.sub(r"[\"“”`*#<>{}\[\]|\\]", "", text)
    text = re.sub(r"^\s*(?:[-•]|\d+[.)])\s+", "", text)
    text = " ".join(text.split()).strip(" ,;:.-'’")
    if len(text) > limit:
        cut = text[:limit + 1]
        at = cut.rfind(", ")
        text = cut[:at] if at > limit // 2 else cut[:cut.rfind(" ")] if " " in cut else cut[:limit]
        text = text.strip(" ,;:.-")
    return text if re.search(r"[^\W\d_]", text) else ""


def _bare(word: str) -> str:
    """The word without a possessive: ``scene's`` -> ``scene``."""
    return re.sub(r"['’]s?$", "", word)


def _norm(word: str) -> str:
    """Lower case, with a plain plural's s dropped: ``Shutters`` -> ``shutter``."""
    word = _bare(word.lower().replace("’", "'"))
    if len(word) > 4 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    return word


def _is_content(word: str) -> bool:
    letters = word.replace("'", "").replace("’", "").replace("-", "")
    if not letters.isalpha() or word.lower() in STOPWORDS:
        return False
    if word.isupper() and len(word) >= 2:  # an acronym: GPU, NHC
        return True
    return len(letters) >= 3 and not word.lower().endswith("ly")


def _plural(word: str) -> bool:
    return len(word) > 3 and word.islower() and word.endswith("s") and not word.endswith(("ss", "us", "is"))


def _verb_like(word: str) -> bool:
    """A past tense or participle (``checked``, ``refined``): no head for a noun phrase."""
    return len(word) > 5 and word.lower().endswith("ed")


def runs(text: str) -> list[list[tuple[str, bool]]]:
    """Runs of content words between punctuation and stopwords: (word, capitalised in mid-sentence)."""
    out: list[list[tuple[str, bool]]] = [[]]
    sentence_start = True
    for token in TOKEN.findall(text):
        if _is_content(token):
            if out[-1] and _plural(out[-1][-1][0]):
                out.append([])  # "phone networks | jam": a plural noun rarely modifies the next word
            out[-1].append((_bare(token), token[0].isupper() and not sentence_start))
        elif out[-1]:
            out.append([])
        sentence_start = token in SENTENCE_END or (sentence_start and not token[0].isalnum())
    return [run for run in out if run]


def phrases(text: str) -> list[_Phrase]:
    """Every phrase of one to three consecutive words inside a run, once per occurrence."""
    out = []
    for run in runs(text):
        for size in (1, 2, 3):
            for start in range(len(run) - size + 1):
                part = run[start:start + size]
                if _verb_like(part[-1][0]):
                    continue
                out.append(_Phrase(tuple(w for w, _ in part), tuple(_norm(w) for w, _ in part),
                                   all(p for _, p in part)))
    return out


def _weights(texts: list[str], headings: list[str]) -> list[Counter]:
    """TF-IDF of each normalised word, per text (heading words count twice more)."""
    counts = []
    for text, heading in zip(texts, headings):
        tf = Counter(_norm(w) for run in runs(text) for w, _ in run)
        for run in runs(heading):
            for w, _ in run:
                tf[_norm(w)] += 2
        counts.append(tf)
    df = Counter(word for tf in counts for word in tf)
    n = len(texts)
    return [Counter({w: c * (math.log((1 + n) / (1 + df[w])) + 1) for w, c in tf.items()}) for tf in counts]


def best_phrases(text: str, weights: Counter, limit: int = MAX_PHRASES) -> list[str]:
    """The ``limit`` best-scoring phrases of ``text`` whose words are not covered by better ones."""
    scored: dict[tuple[str, ...], tuple[float, _Phrase]] = {}
    occurrences = Counter(p.key for p in phrases(text))
    for phrase in phrases(text):
        if phrase.key in scored:
            continue
        score = sum(weights[w] for w in phrase.key) / math.sqrt(len(phrase.key))
        score *= (1.5 if phrase.proper else 1.0) * (1 + 0.25 * (occurrences[phrase.key] - 1))
        scored[phrase.key] = (score, phrase)
    chosen: list[_Phrase] = []
    for _, phrase in sorted(scored.values(), key=lambda sp: -sp[0]):
        if len(chosen) >= limit:
            break
        overlapping = [c for c in chosen if set(c.key) & set(phrase.key)]
        if not overlapping:
            chosen.append(phrase)
        elif len(overlapping) == 1 and _contains(phrase.key, overlapping[0].key) and len(phrase.key) <= 3:
            chosen[chosen.index(overlapping[0])] = phrase  # "beat" grows into "nearest beat"
    return [" ".join(w if p.proper or (w.isupper() and len(w) > 1) else w.lower() for w in p.words) for p in chosen]


def _contains(longer: tuple[str, ...], shorter: tuple[str, ...]) -> bool:
    n = len(shorter)
    return len(longer) > n and any(longer[i:i + n] == shorter for i in range(len(longer) - n + 1))


def extractive_prompts(texts: list[str], headings: list[str], images: list[list[str]]) -> list[str]:
    """A prompt for each scene: its images' alt texts first, then its most salient phrases."""
    weights = _weights(texts, headings)
    out = []
    for text, heading, alts, weight in zip(texts, headings, images, weights):
        parts = [a for a in (clean_prompt(alt, 100) for alt in alts[:MAX_ALT_TEXTS]) if a]
        parts += best_phrases(f"{heading}. {text}", weight, MAX_PHRASES - min(len(parts), 2))
        out.append(clean_prompt(", ".join(dict.fromkeys(parts))) or clean_prompt(heading) or "an illustration")
    return out


def title_prompt(title: str, texts: list[str], cover: list[str]) -> str:
    """The title card's prompt: the cover image's alt text, or the title's and the article's main
    phrases; then ``title card``."""
    parts = [a for a in (clean_prompt(alt, 120) for alt in cover[:MAX_ALT_TEXTS]) if a]
    if not parts:
        whole = Counter()
        for weight in _weights(texts, [""] * len(texts)):
            whole.update(weight)
        for run in runs(title):
            for w, _ in run:
                whole[_norm(w)] += 2 * max(whole.values(), default=1)
        parts = best_phrases(f"{title}. " + " ".join(texts), whole, 3)
    return clean_prompt(", ".join(parts + ["title card"]))
