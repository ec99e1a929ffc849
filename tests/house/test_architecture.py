"""The rules of the house, checked on the source with ``ast``.

Data flows one way: script -> (music, voice) -> plan -> backends -> render. A room
imports only rooms upstream of it and the shared modules beside the stages
(``errors``, ``files``, ``interrupts``, ``words``). ``plan/`` is pure: besides
``script/`` it reads only the beat grid (``music.grid``), never the analysis, the voice,
the hub, the files or the fonts (``typography/``, which pages captions for the pipeline
and draws text for the backends, the compositor and the views). ``pipeline`` (the spine: load, gather, compile, check
outputs, render) sits above the stages; ``views/`` (the plan as a table and a picture),
the studio, the farm and the command line sit around them. ``render/`` reaches backends
only through the registry in ``backends/__init__``, never diffusion itself; nothing
imports ``cli``; no room imports another room's private (``_``) names. Every import
counts, including those inside functions (lazy imports) and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "storyboard"
SHARED = {"storyboard", "storyboard.errors", "storyboard.files", "storyboard.interrupts", "storyboard.words",
          "storyboard.progress", "storyboard.hub"}
STAGES = ("script", "music", "voice", "media", "plan", "backends", "render")
AROUND = ("draft", "studio", "farm", "views")
TYPOGRAPHY = "typography"  # fonts and text on frames: for those that draw or page text, never the plan
# Rooms each room may import, besides itself and the shared modules.
ALLOWED: dict[str, set[str]] = {
    "shared": set(),
    "script": set(),
    "music": {"script"},
    "voice": {"script"},
    "media": {"script"},  # the media probe: images and control videos, measured and hashed
    "plan": {"script", "music"},  # of music/, only the beat grid (ONLY below)
    "typography": set(),
    "backends": {"plan", TYPOGRAPHY},
    "render": {"plan", "backends", TYPOGRAPHY},
    "pipeline": set(STAGES) | {"farm", TYPOGRAPHY},
    "views": {"script", "music", "plan", "backends", TYPOGRAPHY},
    "draft": {"script", "plan", "voice"},
    "studio": set(STAGES) | {"draft", "farm", "pipeline", "views", TYPOGRAPHY},
    "farm": set(STAGES),
    "cli": set(STAGES) | set(AROUND) | {"pipeline", TYPOGRAPHY},
    "main": {"cli"},
}
# Modules a room may not import although their room is allowed.
FORBIDDEN: dict[str, tuple[str, ...]] = {"render": ("storyboard.backends.diffusion", "storyboard.backends.preview")}
# The only modules of another room that a room may import, where it may import only some.
ONLY: dict[str, dict[str, tuple[str, ...]]] = {"plan": {"music": ("storyboard.music.grid",)}}
MAX_FUNCTION_LINES = 80


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    target: str  # imported module (a submodule when a from-import names one)
    path: str  # the importing file, from the repository's root
    line: int
    name: str = ""  # the name a from-import takes from ``target`` ("" for a module)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def room(module: str) -> str:
    if module in SHARED:
        return "shared"
    part = module.split(".")[1]
    if part == "__main__":
        return "main"
    if part in STAGES or part in AROUND or part in ("cli", "pipeline", TYPOGRAPHY):
        return part
    raise AssertionError(f"{module} belongs to no room: add it to a stage's folder, or to SHARED if every stage uses it")


def is_module(name: str) -> bool:
    base = PACKAGE.parent.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports_of(path: Path) -> list[Import]:
    source = module_name(path)
    package = source if path.name == "__init__.py" else source.rpartition(".")[0]
    where = str(path.relative_to(PACKAGE.parent))
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [Import(source, a.name, where, node.lineno) for a in node.names if a.name.split(".")[0] == "storyboard"]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if base.split(".")[0] != "storyboard":
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found = Import(source, sub, where, node.lineno) if is_module(sub) else \
                    Import(source, base, where, node.lineno, alias.name)
                out.append(found)
    return out


def all_imports() -> list[Import]:
    return [imp for path in sorted(PACKAGE.rglob("*.py")) for imp in imports_of(path)]


def test_the_walker_sees_lazy_and_relative_imports(tmp_path):
    """The checker itself: an import inside a function and a relative import are both found."""
    found = {(i.source, i.target) for i in imports_of(PACKAGE / "render" / "orchestrate.py")}
    assert ("storyboard.render.orchestrate", "storyboard.backends") in found  # imported inside render_plan
    assert ("storyboard.render.orchestrate", "storyboard.plan.data") in found


def test_each_room_imports_only_what_is_upstream():
    problems = []
    for imp in all_imports():
        src, dst = room(imp.source), room(imp.target)
        if dst != src and dst != "shared" and dst not in ALLOWED[src]:
            allowed = ", ".join(sorted(ALLOWED[src])) or "no other room"
            problems.append(f"{imp.path}:{imp.line} imports {imp.target}: {src}/ may import {allowed} (and the shared modules)")
        for banned in FORBIDDEN.get(src, ()):
            if imp.target == banned or imp.target.startswith(banned + "."):
                problems.append(f"{imp.path}:{imp.line} imports {imp.target}: {src}/ opens backends through storyboard.backends")
        only = ONLY.get(src, {}).get(dst)
        if only is not None and imp.target not in only:
            problems.append(f"{imp.path}:{imp.line} imports {imp.target}: of {dst}/, {src}/ may import only "
                            + ", ".join(only))
    assert not problems, "\n".join(problems)


def test_plan_is_pure():
    """plan/ imports only script/ and the beat grid (besides itself and the shared modules): no music
    analysis, no voice, no hub, no model registry's files, no fonts (typography/)."""
    outside = sorted({f"{i.path}:{i.line} imports {i.target}" for i in all_imports()
                      if room(i.source) == "plan" and room(i.target) not in ("plan", "shared", "script")
                      and i.target != "storyboard.music.grid"})
    assert not outside, "\n".join(outside)


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_no_room_imports_another_rooms_private_names():
    """``from storyboard.x.y import _name`` only within the room ``x``: a private name is no other room's business."""
    found = [f"{i.path}:{i.line} imports {i.name} from {i.target}" for i in all_imports()
             if is_private(i.name) and room(i.source) != room(i.target)]
    assert not found, "\n".join(found)


def test_the_private_name_check_sees_a_private_import():
    """The checker itself: a from-import of an underscored name records the name, and the module it comes from."""
    found = [i for i in imports_of(PACKAGE / "music" / "analysis.py") if i.name == "_refine"]
    assert found and {(i.target, is_private(i.name)) for i in found} == {("storyboard.music.beats", True)}
    assert not is_private("__version__")


def test_nothing_but_the_entry_point_imports_the_cli():
    users = [f"{i.path}:{i.line}" for i in all_imports() if i.target == "storyboard.cli" and i.source != "storyboard.__main__"]
    assert not users, f"cli.py is the outermost layer; imported by {users}"


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """A cycle in the graph as a list of nodes (first repeated last), or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycles():
    edges: dict[str, set[str]] = {}
    for imp in all_imports():
        if imp.target != imp.source:
            edges.setdefault(imp.source, set()).add(imp.target)
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_function_is_longer_than_a_screen():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}: {lines} lines")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines; split them into named steps:\n" + "\n".join(long)


@pytest.mark.parametrize("folder", ["script", "music", "voice", "plan", "backends", "render", "views", "typography"])
def test_every_stage_has_its_folder(folder):
    assert (PACKAGE / folder / "__init__.py").is_file()


def starts_storyboard(tree: ast.AST) -> bool:
    """Whether the module builds a ``python -m storyboard ...`` command line."""
    for node in ast.walk(tree):
        if isinstance(node, ast.List):
            words = [e.value for e in node.elts if isinstance(e, ast.Constant)]
            if any(a == "-m" and b == "storyboard" for a, b in zip(words, words[1:])):
                return True
    return False


def test_no_module_parses_another_commands_printed_text():
    """A module that runs a storyboard command as a child process reads what the child says only
    as progress events (``storyboard.progress.from_json``), never by matching its printed words with
    regular expressions: rewording a line must not silently break the studio or the farm."""
    children, problems = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        if not starts_storyboard(tree):
            continue
        children.append(path.name)
        where = path.relative_to(PACKAGE.parent)
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names = {(n.module, a.name) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
        if "re" in imported or any(m == "re" for m, _ in names):
            problems.append(f"{where} runs storyboard as a child and imports re")
        if ("storyboard.progress", "from_json") not in names:
            problems.append(f"{where} runs storyboard as a child but does not read its events with from_json")
    assert children == ["children.py"], children  # the checker sees the studio's child renders
    assert not problems, "\n".join(problems)


HUB_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_ENDPOINT")


def test_one_module_reads_whether_and_where_the_hub_may_be_asked():
    """``storyboard/hub.py`` alone reads the hub's offline switches and address from the environment:
    the backends and ``draft --llm`` never disagree on whether the machine is offline."""
    readers = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in HUB_VARIABLES:
                readers.add(str(path.relative_to(PACKAGE.parent)))
    assert readers == {"storyboard/hub.py"}, sorted(readers)
