"""The checks ``validate``, ``plan`` and ``render`` make of the model a script names, before torch
is imported, and the one wording of why a model is not available (the families' loaders use it too).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from storyboard.backends.hub import hub_cache_dir
from storyboard.backends.registry import CONDITIONING, FAMILIES, built_in, size_message, supported_pipelines, taking
from storyboard.backends.sources import locate_model, source_size_rule
from storyboard.hub import hub_offline


def missing_message(model_id: str, detail: str, components: tuple[str, ...] | list[str] = ()) -> str:
    """Why a model is not available, and how to get it."""
    holding = f"holding {', '.join(components)}/" if components else "saved by a diffusers text-to-video pipeline"
    how = (f"download it on a connected machine with `hf download {model_id}` (it lands in the Hugging Face "
           f"cache, ~/.cache/huggingface, or HF_HOME), or point model.id at a local folder {holding}")
    state = "HF_HUB_OFFLINE is set, so only the local cache is searched; " if hub_offline() else ""
    return f"model '{model_id}' is not available: {detail}. {state}{how}. To check a script without weights use --model preview."


def did_you_mean(model_id: str) -> str | None:
    """The built-in model ``model_id`` is a near miss of (``tiny-randm`` -> ``tiny-random``), or None."""
    if "/" in model_id or "\\" in model_id:
        return None
    close = difflib.get_close_matches(model_id.strip().lower(), built_in(), n=1, cutoff=0.6)
    return close[0] if close else None


@dataclass(frozen=True)
class ModelProblem:
    """A problem with the model a script names: ``field`` (``id``, ``width`` or ``height``: the
    ``model.id`` or ``output.*`` it is about) and the message."""

    field: str
    message: str


def model_problems(model_id: str, width: int, height: int, revision: str | None = None) -> list[ModelProblem]:
    """What keeps ``model_id`` from rendering ``width`` x ``height`` pixels, found without torch or
    network. Errors, for what a render on this machine would fail on:

    - a near miss of a built-in name that is no folder and no cached model (did you mean);
    - a path that is not a folder;
    - a hub id not in the Hugging Face cache while the hub may not be asked (the render could only
      fail, after importing torch);
    - a model saved by a pipeline no family drives;
    - a size its rule refuses (a tiny model's, its configs', else its family's base rule).

    A hub id that is not cached while the hub may be asked is not an error: the render downloads it
    (:func:`model_warnings` says so).
    """
    source = locate_model(model_id, revision)
    if source.kind == "preview":
        return []
    if source.kind in ("no-folder", "hub"):
        near = did_you_mean(model_id)
        if near is not None:
            return [ModelProblem("id", f"'{model_id}' is not a model storyboard knows, nor a folder: did you mean "
                                       f"'{near}'? (built in: {', '.join(built_in())})")]
    if source.kind == "no-folder":
        return [ModelProblem("id", f"model folder '{model_id}' does not exist")]
    if source.kind == "hub" and hub_offline():
        return [ModelProblem("id", missing_message(model_id, f"it is not in the Hugging Face cache ({hub_cache_dir()})"))]
    if source.family is not None and source.family not in FAMILIES:
        return [ModelProblem("id", f"model '{model_id}' was saved by {source.family}, which storyboard does not "
                                   f"drive; it drives {supported_pipelines()}")]
    rule = source_size_rule(source)
    if rule is None:
        return []
    return [ModelProblem(field, size_message(model_id, source.family or "", value, requirement))
            for field, value, requirement in rule.problems(width, height)]


def model_warnings(model_id: str, revision: str | None = None) -> list[str]:
    """Warnings about ``model_id`` that do not stop a render: a hub id that is not in the Hugging
    Face cache while the hub may be asked (the render will download it)."""
    source = locate_model(model_id, revision)
    if source.kind != "hub" or hub_offline():
        return []
    return [f"model '{model_id}' is neither built in ({', '.join(built_in())}), nor a folder, nor in the Hugging Face "
            f"cache ({hub_cache_dir()}): render will download it from the hub"]


def refused_conditioning(model_id: str, words: set[str] | frozenset[str], revision: str | None = None) -> dict[str, str]:
    """For each of ``words`` (:data:`~storyboard.backends.registry.CONDITIONING`) that the family of
    ``model_id`` does not take, why, naming the families and checkpoints that do (or saying that only
    the preview draws it for now). Empty for the preview, for a family that takes them all, and for a
    model whose family cannot be told without loading it."""
    source = locate_model(model_id, revision)
    family = FAMILIES.get(source.family or "")
    if source.kind == "preview" or family is None:
        return {}
    refused = {}
    for word in sorted(w for w in words if not family.takes(w)):
        what = CONDITIONING.get(word, word)
        able = [f"{f.name} ({', '.join(f.checkpoints) or f.tiny})" for f in taking(word)]
        able_text = (f"{what.split(' (')[0]} are taken by {', '.join(able)} and the preview" if able else
                     f"no model family storyboard drives takes {what.split(' (')[0]} yet: only the preview draws "
                     "them for now (--model preview)")
        refused[word] = (f"model '{model_id}' ({family.name}) cannot take {what}: it conditions on "
                         f"{' and '.join(family.conditioning)} only; {able_text}")
    return refused


def image_needed(model_id: str, revision: str | None = None) -> str | None:
    """What to tell a shot with no image when ``model_id``'s family animates images (image-to-video),
    naming the text-to-video tiny models; None for any other model (and for one whose family cannot be
    told without loading it)."""
    source = locate_model(model_id, revision)
    family = FAMILIES.get(source.family or "")
    if family is None or not family.needs_image:
        return None
    text = ", ".join(f.tiny for f in FAMILIES.values() if not f.needs_image and "image" not in f.conditioning)
    return (f"model '{model_id}' ({family.name}) animates an image: give the shot a start image (a scene's image, "
            f"keyframes or last frame), or render text alone with a text-to-video model ({text})")
