"""storyboard: turn a written storyboard into a long video.

Data flows one way: script (YAML/JSON) -> :class:`~storyboard.schema.Storyboard`
-> :class:`~storyboard.plan.Plan` -> frames (a backend) -> MP4 (the compositor).
"""

__version__ = "0.1.0"
