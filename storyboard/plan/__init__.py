"""The plan: (script, music timing, speech timings, media facts) -> frame-exact, plain data. Pure: no audio
analysis, no speech synthesis, no hub, no files read or written.

* :mod:`~storyboard.plan.data`: the Plan data classes (the contract with backends and render).
* :mod:`~storyboard.plan.compile`: ``compile_plan``, the pure compiler, in named steps.
* :mod:`~storyboard.plan.narration`: ``duration: auto`` and the speech on the timeline.
* :mod:`~storyboard.plan.media`: each shot's images, subjects and control videos, as keys and spans.
* :mod:`~storyboard.plan.times`, :mod:`~storyboard.plan.sync`, :mod:`~storyboard.plan.glides`,
  :mod:`~storyboard.plan.easing`, :mod:`~storyboard.plan.windows`: time, beats, glides and windows.
* :mod:`~storyboard.plan.warnings`: what to tell the user about a compiled plan.

What the plan needs from outside the script is gathered by :mod:`storyboard.pipeline`.
"""

from storyboard.plan.compile import compile_plan
from storyboard.plan.data import Plan

__all__ = ["Plan", "compile_plan"]
