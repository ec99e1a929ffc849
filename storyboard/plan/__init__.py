"""The plan: script (+ music) -> frame-exact, plain data.

* :mod:`~storyboard.plan.data`: the Plan data classes (the contract with backends and render).
* :mod:`~storyboard.plan.compile`: ``compile_plan``, the pure compiler, in named steps.
* :mod:`~storyboard.plan.build`: ``plan_script``, which fetches the music's beat grid and compiles.
* :mod:`~storyboard.plan.clock`, :mod:`~storyboard.plan.sync`, :mod:`~storyboard.plan.glides`,
  :mod:`~storyboard.plan.easing`, :mod:`~storyboard.plan.windows`: time, beats, glides and windows.
* :mod:`~storyboard.plan.timeline`, :mod:`~storyboard.plan.plot`: the plan as a table and as a picture.
"""

from storyboard.plan.build import Planned, plan_script
from storyboard.plan.compile import compile_plan
from storyboard.plan.data import Plan

__all__ = ["Plan", "Planned", "compile_plan", "plan_script"]
