"""Drafting speed: a ~3,000-word Markdown article to a script.

The article is examples/articles/hurricane-safety.md three times over, each copy's headings
numbered and its storms renamed (hurricane, typhoon, cyclone), so scenes and prompts differ.
Prints one JSON line: ``words`` (of the article, as ``wc -w`` counts), ``narrated_words``,
``scenes``, ``seconds`` (in-process :func:`storyboard.draft.draft`, first call: imports of the
drafter and markdown-it-py included), ``warm_seconds`` (a second call) and ``cli_seconds``
(``python -m storyboard draft`` in a fresh process, interpreter start-up included).

    python benchmarks/draft.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
NAMES = (("hurricane", "Hurricane"), ("typhoon", "Typhoon"), ("cyclone", "Cyclone"))


def long_article(folder: Path) -> Path:
    """The hurricane article three times, varied; its path."""
    text = (ROOT / "examples" / "articles" / "hurricane-safety.md").read_text(encoding="utf-8")
    front, body = text.split("\n---\n", 1)
    copies = []
    for number, (lower, upper) in enumerate(NAMES, start=1):
        part = body.replace("hurricane", lower).replace("Hurricane", upper)
        copies.append("\n".join(f"{line} ({lower}s, part {number})" if line.startswith("#") else line
                                 for line in part.splitlines()))
    path = folder / "storms.md"
    path.write_text(front + "\n---\n" + "\n".join(copies), encoding="utf-8")
    return path


def main() -> None:
    folder = Path(tempfile.mkdtemp())
    article = long_article(folder)
    words = len(article.read_text(encoding="utf-8").split())

    started = time.perf_counter()
    from storyboard.draft import draft

    result = draft(article, folder / "storms.yaml")
    cold = time.perf_counter() - started
    started = time.perf_counter()
    draft(article, folder / "storms.yaml", force=True)
    warm = time.perf_counter() - started

    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "storyboard", "draft", str(article), "-o", str(folder / "cli.yaml")],
                   check=True, capture_output=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    cli = time.perf_counter() - started
    print(json.dumps({"words": words, "narrated_words": result.words, "scenes": result.scenes,
                      "seconds": round(cold, 3), "warm_seconds": round(warm, 3), "cli_seconds": round(cli, 3)}))


if __name__ == "__main__":
    main()
