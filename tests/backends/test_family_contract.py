"""What a model family must provide: one module under ``backends/diffusion/families/`` and one entry
in the torch-free registry (``storyboard.backends.registry.FAMILIES``); nothing else is edited to add one."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import types

import pytest

from storyboard.backends import registry
from storyboard.backends.registry import FAMILIES, Family, LatentTiming, SizeRule

# What a family module holds at module level: the name and what it is for.
MODULE_CONTRACT = {
    "NAME": "its key in the registry",
    "TINY": "its tiny random model's id (the registry's)",
    "PIPELINES": "the diffusers pipelines it drives (the registry's)",
    "TIMING": "its LatentTiming (the registry's)",
    "COMPONENTS": "the subfolders it loads",
    "load": "load(source, model_id, kwargs, dtype) -> components",
    "tiny_components": "tiny_components(dtype=None, seed=0) -> components",
    "save_components": "save_components(components, folder) -> folder",
    "encode_prompts": "encode_prompts(components, texts, device) -> TextEncoding (embeddings and masks)",
    "latent_channels": "latent_channels(components) -> int",
    "spatial_factor": "spatial_factor(components) -> pixels per latent cell",
    "check_size": "check_size(components, width, height), UsageError in the registry's words",
    "scheduler": "scheduler(components, name, latent_shape=None)",
    "Denoiser": "Denoiser(components, table, conds, guidance, dtype), a FrameDenoiser",
    "decode": "decode(components, latents, device, dtype) -> frames H x W x 3 uint8",
}
CALLABLES = {name for name, what in MODULE_CONTRACT.items() if name[0].islower() or name == "Denoiser"}


def contract_gaps(module: types.ModuleType, entry: Family) -> list[str]:
    """What ``module`` lacks, or holds at odds with its registry ``entry``, one line each."""
    gaps = [f"{module.__name__} lacks {name}: {what}" for name, what in MODULE_CONTRACT.items()
            if not hasattr(module, name)]
    gaps += [f"{module.__name__}.{name} is not callable" for name in sorted(CALLABLES)
             if hasattr(module, name) and not callable(getattr(module, name))]
    for name, wanted in (("NAME", entry.name), ("TINY", entry.tiny), ("PIPELINES", entry.pipelines),
                         ("TIMING", entry.timing)):
        if hasattr(module, name) and getattr(module, name) != wanted:
            gaps.append(f"{module.__name__}.{name} is {getattr(module, name)!r}, the registry says {wanted!r}")
    return gaps


def entry_gaps(entry: Family) -> list[str]:
    """What a registry entry lacks or gets wrong, one line each."""
    gaps = []
    if not entry.pipelines:
        gaps.append(f"{entry.name}: no pipelines (model_index.json's _class_name values it drives)")
    if not entry.tiny.startswith("tiny-"):
        gaps.append(f"{entry.name}: tiny id {entry.tiny!r} does not start with 'tiny-'")
    if entry.schedulers[:1] != ("auto",):
        gaps.append(f"{entry.name}: schedulers {entry.schedulers} do not start with 'auto'")
    if "prompt" not in entry.conditioning:
        gaps.append(f"{entry.name}: conditioning {entry.conditioning} lacks 'prompt'")
    gaps += [f"{entry.name}: checkpoint {hub_id} is not named as one of its models (hub_names)"
             for hub_id in entry.checkpoints if entry.hub_names and not entry.named_by(hub_id)]
    if not isinstance(entry.rule({}, {}), SizeRule):
        gaps.append(f"{entry.name}: its rule does not give a SizeRule from empty configs")
    others = [f for f in FAMILIES.values() if f.name != entry.name]
    gaps += [f"{entry.name}: pipeline {p} is also {f.name}'s" for f in others for p in entry.pipelines if p in f.pipelines]
    gaps += [f"{entry.name}: tiny id {entry.tiny} is also {f.name}'s" for f in others if f.tiny == entry.tiny]
    return gaps


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_each_registry_entry_is_complete(name):
    assert FAMILIES[name].name == name
    assert entry_gaps(FAMILIES[name]) == []


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_each_registered_family_has_a_module_that_provides_the_interface(name):
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    from storyboard.backends.diffusion.families import family_module
    from storyboard.backends.diffusion.families.base import FrameDenoiser

    module = family_module(name)
    assert contract_gaps(module, FAMILIES[name]) == []
    assert not isinstance(module.Denoiser, type) or issubclass(module.Denoiser, FrameDenoiser)


def test_what_a_family_lacks_is_named():
    entry = FAMILIES["wan"]
    partial = types.ModuleType("storyboard.backends.diffusion.families.partial")
    partial.NAME, partial.TINY, partial.PIPELINES, partial.TIMING = "wan", "tiny-wan", ("WanPipeline",), LatentTiming()
    partial.decode = 3
    gaps = contract_gaps(partial, entry)
    assert "storyboard.backends.diffusion.families.partial lacks COMPONENTS: the subfolders it loads" in gaps
    assert ("storyboard.backends.diffusion.families.partial lacks encode_prompts: encode_prompts(components, texts, "
            "device) -> TextEncoding (embeddings and masks)") in gaps
    assert "storyboard.backends.diffusion.families.partial.decode is not callable" in gaps
    assert (f"storyboard.backends.diffusion.families.partial.TIMING is {LatentTiming()!r}, the registry says "
            f"{entry.timing!r}") in gaps
    assert len(gaps) == 12  # 10 missing, decode not callable, TIMING at odds
    clash = Family("clash", ("WanPipeline",), LatentTiming(), "tiny-wan", SizeRule(8, 8), SizeRule(8, 8), "unet",
                   rule=lambda vae, denoiser: SizeRule(8, 8), schedulers=("ddim",))
    assert entry_gaps(clash) == ["clash: schedulers ('ddim',) do not start with 'auto'",
                                 "clash: pipeline WanPipeline is also wan's", "clash: tiny id tiny-wan is also wan's"]


def toy_family() -> Family:
    """A family as a new issue would add it: one entry, no other table."""
    return Family("toy", ("ToyVideoPipeline",), LatentTiming(ratio=2, causal_first=True, native_fps=12, clip_frames=25),
                  "tiny-toy", tiny_rule=SizeRule(24, 24), base_rule=SizeRule(12, 12), denoiser="transformer",
                  rule=lambda vae, transformer: SizeRule(int(vae.get("scale", 6)) * 2, int(vae.get("scale", 6)) * 2),
                  schedulers=("auto", "euler"), hub_names=("startswith:toy-org/",),
                  index_timings=(("long_clips", LatentTiming(ratio=2, causal_first=True, native_fps=12, clip_frames=49)),))


def test_a_new_family_is_one_entry_and_one_module(tmp_path, monkeypatch):
    """Registered with one entry, a family is found by its tiny id, its pipeline, its hub name; its size
    rule and time come from the model's files; its module is found by its name."""
    from storyboard.backends.model_checks import model_problems
    from storyboard.backends.sources import locate_model, model_timing

    monkeypatch.setitem(FAMILIES, "toy", toy_family())
    folder = tmp_path / "toy-model"
    (folder / "vae").mkdir(parents=True)
    (folder / "transformer").mkdir()
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "ToyVideoPipeline", "long_clips": True}))
    (folder / "vae" / "config.json").write_text(json.dumps({"scale": 10}))
    (folder / "transformer" / "config.json").write_text("{}")

    assert "tiny-toy" in registry.built_in() and "ToyVideoPipeline (toy)" in registry.supported_pipelines()
    assert locate_model("tiny-toy").family == "toy" and locate_model(str(folder)).family == "toy"
    assert registry.named_family("toy-org/toy-1b") == "toy"
    assert model_timing(str(folder)) == ("toy", FAMILIES["toy"].index_timings[0][1])
    assert [p.message for p in model_problems(str(folder), 60, 50)] == [
        f"50 does not fit model '{folder}' (toy): width and height must be multiples of 20 pixels (nearest: 40 or 60)"]
    assert [p.message for p in model_problems("tiny-toy", 48, 40)] == [
        "40 does not fit model 'tiny-toy' (toy): width and height must be multiples of 24 pixels (nearest: 24 or 48)"]
    assert [p.message for p in model_problems("tiny-tyo", 48, 48)] == [
        "'tiny-tyo' is not a model storyboard knows, nor a folder: did you mean 'tiny-toy'? (built in: "
        f"{', '.join(registry.built_in())})"]
    assert registry.built_in()[:4] == ("preview", "tiny-random", "tiny-wan", "tiny-ltx")
    assert registry.built_in()[-1] == "tiny-toy"

    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    from storyboard.backends.diffusion.families import family_module, family_name

    module = types.ModuleType("storyboard.backends.diffusion.families.toy")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    assert family_name(str(folder)) == "toy" and family_module("toy") is module


def test_the_registry_imports_neither_torch_nor_numpy():
    """validate reads the registry, the model's sources and checks and the latent geometry: none of
    them may cost torch, diffusers, transformers, numpy or huggingface_hub."""
    code = ("import sys\n"
            "import storyboard.backends.registry, storyboard.backends.sources, storyboard.backends.model_checks\n"
            "import storyboard.backends.latents, storyboard.backends.hub\n"
            "print(sorted(m for m in ('torch', 'diffusers', 'transformers', 'numpy', 'huggingface_hub') "
            "if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_family_modules_are_named_for_their_entries():
    for name in FAMILIES:
        assert importlib.util.find_spec(f"storyboard.backends.diffusion.families.{name}") is not None, name
