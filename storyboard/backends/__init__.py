"""Backends turn a plan's shots into frames. They know nothing of YAML or encoding.

A backend has a ``name``, a ``version`` (part of every cache key) and
``render_shot(plan, shot)``, which yields the shot's ``shot.length`` frames in
order as ``H x W x 3`` uint8 arrays (handle frames included).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Protocol

from storyboard.plan.data import Plan, ShotPlan

if TYPE_CHECKING:
    import numpy as np

PREVIEW = "preview"


class Backend(Protocol):
    name: str
    version: str

    def render_shot(self, plan: Plan, shot: ShotPlan) -> Iterator[np.ndarray]: ...

    def close(self) -> None: ...


def backend_identity(plan: Plan) -> tuple[str, str, bool]:
    """(name, version, position_dependent) of the backend the plan's model names, without loading it.

    Part of every segment's key. ``position_dependent``: the backend draws where a
    frame sits in the video (the preview's timecode), so a moved shot must re-render.
    """
    model_id = plan.model.id
    if model_id == PREVIEW:
        from storyboard.backends.preview import PreviewBackend

        return PreviewBackend.name, PreviewBackend.version, True
    return "diffusion", f"1:{model_id}:{plan.model.revision}", False


def open_backend(model_id: str, plan: Plan) -> Backend:
    """The backend for ``model_id``: ``preview``, or a diffusers model (hub id, folder, ``tiny-random``).

    Diffusion backends load their weights here, before any frame is rendered, so a
    missing model fails fast.
    """
    if model_id == PREVIEW:
        from storyboard.backends.preview import PreviewBackend

        return PreviewBackend()
    from storyboard.backends.diffusion.backend import DiffusionBackend

    return DiffusionBackend.open(model_id, plan)
