"""A fuzzer around the examples: `storyboard validate` and `plan` answer every script with
exit 0 or 2, never a traceback (exit 1 is for failures while rendering).

Scripts are the examples with mutations: a value replaced (numbers at the edges, times in
every unit, wrong types, text with control and non-ASCII characters), a key removed or
misspelt, characters inserted into the source, YAML or JSON. Deterministic by default, so
CI cannot go red by chance; set ``STORYBOARD_FUZZ_RANDOM=1`` to explore new seeds, and
``STORYBOARD_FUZZ_EXAMPLES`` for a longer run.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from storyboard.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = {p.stem: yaml.safe_load(p.read_text()) for p in sorted((ROOT / "examples").glob("*.yaml"))}
EXAMPLE_COUNT = int(os.environ.get("STORYBOARD_FUZZ_EXAMPLES", "600"))

numbers = st.sampled_from([0, -1, 1, 7, 8, 12, 24, 1366, 2**31, 2**63, 10**30, 1e-9, 0.5, 1e308, -1e308,
                           float("inf"), float("nan"), 86400, 86401, 3.14159])
units = st.sampled_from(["", "s", "ms", "f", "frames", " beats", " bars", "b", "h", "x", "f f", "s "])
times = st.builds(lambda n, u: f"{n}{u}", st.sampled_from(["0", "1", "1.5", "48", "1e3", "-2", "0x10", "010",
                                                           "1:30", "99:99", "9" * 40, ".", ""]), units)
texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
odd_text = st.sampled_from(["\x00", "\x85", "\ufffe", "\t", "a, b", "{x}", "é ü ñ", "Привет", "日本語", "😀",
                            "yes", "null", "~", "2024-01-01", "!!python/object:os.system", "&a", "*a", "\n\n"])
leaves = st.one_of(numbers, times, texts, odd_text, st.booleans(), st.none(), st.just([]), st.just({}),
                   st.lists(texts, max_size=3), st.dictionaries(texts, texts, max_size=2))
FIELDS = ["duration", "prompts", "transition", "type", "curve", "hold", "pulse", "at", "caption", "seed", "fps",
          "width", "height", "path", "music", "sync", "offset", "start", "bpm", "meter", "downbeat", "window",
          "frames", "overlap", "steps", "guidance", "captions", "quality", "loop", "volume", "fade_out", "text"]


def paths(data: object, prefix: tuple = ()) -> list[tuple]:
    """Every key path into the data (mappings and lists)."""
    out = [prefix]
    if isinstance(data, dict):
        for k, v in data.items():
            out += paths(v, prefix + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += paths(v, prefix + (i,))
    return out


def mutate(data: object, path: tuple, how: str, value: object) -> object:
    """A copy of ``data`` with the node at ``path`` replaced, removed or given an extra key."""
    data = json.loads(json.dumps(data))  # deep copy of plain data
    if not path:
        return value if how == "replace" else data
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if how == "replace":
        parent[last] = value
    elif how == "remove":
        del parent[last]
    elif how == "extra" and isinstance(parent, dict):
        parent[value if isinstance(value, str) else "extra"] = 1
    elif how == "rename" and isinstance(parent, dict) and isinstance(last, str):
        parent[last[:-1] + "x" if last else "x"] = parent.pop(last)
    return data


@st.composite
def scripts(draw: st.DrawFn) -> tuple[str, str]:
    """(suffix, source text) of a mutated example."""
    data = EXAMPLES[draw(st.sampled_from(sorted(EXAMPLES)))]
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths(data)))
        how = draw(st.sampled_from(["replace", "replace", "replace", "remove", "extra", "rename"]))
        value = draw(st.one_of(leaves, st.sampled_from(FIELDS)))
        data = mutate(data, path, how, value)
    if draw(st.booleans()):
        text = json.dumps(data, ensure_ascii=draw(st.booleans()), allow_nan=True)
        suffix = ".json"
    else:
        text = yaml.safe_dump(data, allow_unicode=draw(st.booleans()), sort_keys=False)
        suffix = ".yaml"
    if draw(st.integers(0, 4)) == 0:  # characters typed into the source
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.one_of(odd_text, texts, st.sampled_from(["[", "{", ":", "'", '"', "- ", "\n  "]))) + text[at:]
    return suffix, text


@pytest.fixture(scope="module")
def folder(example_media, warm_cache):
    """A folder with the examples' music beside the fuzzed scripts (media/pulse-120.wav); every
    example's music analysis and speech is in the session's cache before the first fuzzed script."""
    for name in EXAMPLES:
        warm_cache(name)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "media").mkdir()
        (Path(tmp) / "media" / "pulse-120.wav").symlink_to(example_media)
        yield Path(tmp)


def run(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    return code, err.getvalue()


@settings(max_examples=EXAMPLE_COUNT, deadline=None, derandomize=not os.environ.get("STORYBOARD_FUZZ_RANDOM"),
          database=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                                 HealthCheck.data_too_large])
@given(script=scripts(), command=st.sampled_from(["validate", "plan"]))
def test_every_script_gets_exit_0_or_2_and_never_a_traceback(folder, script, command):
    suffix, text = script
    path = folder / f"fuzzed{suffix}"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    args = [command, str(path)] + (["--json"] if command == "plan" else [])
    code, err = run(args)
    assert code in (0, 2), f"exit {code} for:\n{text}\n---\n{err}"
    assert "Traceback" not in err
    if code == 2:
        assert "error" in err, err
