"""The render farm: a plan's shots as jobs on a Ray cluster (``storyboard render --ray``).

- :mod:`~storyboard.farm.cluster`: a private local cluster on 127.0.0.1, or joining one.
- :mod:`~storyboard.farm.worker`: the worker actor (loads the model once, renders one shot per call).
- :mod:`~storyboard.farm.schedule`: longest shot first, the critical path, the speed-up a farm can reach.
- :mod:`~storyboard.farm.results`: a worker's files checked and written into the driver's cache.
- :mod:`~storyboard.farm.driver`: :func:`render_plan_on_ray`, the render with the farm in it.

Ray is an optional extra (``storyboard[farm]``), imported only where it is used.
"""

from storyboard.farm.driver import FarmReport, render_plan_on_ray
from storyboard.farm.results import FarmError

__all__ = ["FarmError", "FarmReport", "render_plan_on_ray"]
