"""Errors a user can act on: file, line, column, field path, what was expected."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

Loc = tuple[str | int, ...]


def format_path(path: Sequence[str | int]) -> str:
    """``('scenes', 2, 'transition', 'type')`` -> ``scenes[2].transition.type``."""
    out = ""
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        else:
            out += ("." if out else "") + str(step)
    return out


@dataclass(frozen=True)
class ScriptError:
    """One problem in a script. Lines and columns are 1-based."""

    message: str
    path: Loc = ()
    file: str | None = None
    line: int | None = None
    column: int | None = None
    hint: str | None = None
    source_line: str | None = None

    def format(self) -> str:
        where = self.file or "<script>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        field = f" {format_path(self.path)}:" if self.path else ""
        text = f"{where}: error:{field} {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        if self.source_line is not None and self.line is not None:
            gutter = f"{self.line:>5} | "
            text += f"\n{gutter}{self.source_line.rstrip()}"
            if self.column is not None:
                text += "\n" + " " * (len(gutter) + self.column - 1) + "^"
        return text


class ScriptErrors(Exception):
    """One or more :class:`ScriptError`; the CLI prints them and exits with code 2."""

    def __init__(self, errors: Iterable[ScriptError]):
        self.errors = list(errors)
        super().__init__(self.format())

    shown = 20  # errors listed in full; the rest are counted

    def format(self) -> str:
        lines = [e.format() for e in self.errors[: self.shown]]
        if len(self.errors) > self.shown:
            lines.append(f"... and {len(self.errors) - self.shown} more")
        if len(self.errors) > 1:
            lines.append(f"{len(self.errors)} errors")
        return "\n".join(lines)


class PlanError(Exception):
    """Problems found while compiling a plan, each as (field path, message)."""

    def __init__(self, problems: Iterable[tuple[Loc, str]]):
        self.problems = list(problems)
        super().__init__("; ".join(f"{format_path(p)}: {m}" for p, m in self.problems))


class UsageError(Exception):
    """A bad command-line argument or environment problem (exit code 2)."""
