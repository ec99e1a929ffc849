"""The plan's picture on the page: ``storyboard plan --plot``'s timeline (with its voice lane).

Written atomically into the studio's own folder, one file a script.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from storyboard.views.plot import plot_plan

if TYPE_CHECKING:
    from storyboard.plan.data import Plan
    from storyboard.script.load import Script


def plan_picture(script: "Script", plan: "Plan", folder: Path, name: str) -> Path:
    """Draw ``plan`` (with its music and narration) to ``folder/<a name for the script>.png``; its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (hashlib.sha1(name.encode()).hexdigest()[:16] + ".png")
    return plot_plan(script, plan, path)
