"""Wan, LTX-Video and CogVideoX end to end, offline: an example renders with each family's tiny random
model to an MP4 of the planned length and rate, and a folder that diffusers' own
``WanPipeline`` / ``LTXPipeline`` / ``CogVideoXPipeline`` wrote with ``save_pretrained`` renders through the path
users take (``--model FOLDER``)."""

from __future__ import annotations

import pytest
from helpers import ROOT, probe, write

from storyboard.backends.registry import FAMILIES
from storyboard.cli import main
from storyboard.pipeline import plan_script
from storyboard.script.load import load_script, with_overrides


@pytest.mark.slow
@pytest.mark.parametrize("family", ["wan", "ltx"])  # the newer families: a three-scene render in their own tests
def test_an_example_renders_with_the_tiny_model(tmp_path, family):
    example = ROOT / "examples" / "modelscope-256.yaml"
    out = tmp_path / f"{family}.mp4"
    assert main(["render", str(example), "--model", f"tiny-{family}", "--steps", "2", "-o", str(out), "-q"]) == 0
    plan = plan_script(with_overrides(load_script(example), model=f"tiny-{family}")).plan
    p = probe(out)
    assert (p.frames, p.fps, p.width, p.height) == (plan.total_frames, plan.fps, 256, 256)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["wan", "ltx", "cogvideox", "skyreels"])
def test_a_folder_the_stock_pipeline_saved_renders(tmp_path, family, capsys):
    import importlib

    module = importlib.import_module(f"storyboard.backends.diffusion.families.{family}")
    folder = module.save_components(module.tiny_components(), tmp_path / "model")
    assert (folder / "model_index.json").read_text().count(FAMILIES[family].pipelines[0]) == 1
    script = write(tmp_path / "s.yaml", "output: {width: 64, height: 64, fps: 12}\nscenes:\n"
                   "  - {duration: 1s, prompts: a red room}\n  - {duration: 1s, prompts: a blue sea, transition: morph}\n")
    assert main(["plan", str(script), "--model", str(folder)]) == 0
    assert f"({family}): renders at" in capsys.readouterr().out
    out = tmp_path / "v.mp4"
    assert main(["render", str(script), "--model", str(folder), "--steps", "2", "-o", str(out), "-q"]) == 0
    p = probe(out)
    assert (p.frames, p.fps, p.width, p.height) == (24, 12, 64, 64)


def test_validate_checks_the_size_rule_of_a_model_folder(tmp_path, capsys):
    from storyboard.backends.diffusion.families import wan

    folder = wan.save_components(wan.tiny_components(), tmp_path / "model")
    script = write(tmp_path / "s.yaml", f"output: {{width: 72, height: 64}}\nmodel: {{id: {folder}}}\nscenes:\n"
                   "  - {duration: 1s, prompts: a}\n")
    assert main(["validate", str(script)]) == 2
    err = capsys.readouterr().err
    assert "output.width: 72 does not fit model" in err and "(wan): width and height must be multiples of 16" in err


def test_a_folder_of_another_pipeline_is_refused_naming_the_supported_ones(tmp_path, capsys):
    (tmp_path / "sd").mkdir()
    (tmp_path / "sd" / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    script = write(tmp_path / "s.yaml", f"model: {tmp_path / 'sd'}\nscenes:\n  - {{duration: 1s, prompts: a}}\n")
    assert main(["validate", str(script)]) == 2
    err = capsys.readouterr().err
    assert "saved by StableDiffusionPipeline" in err and "WanPipeline (wan)" in err and "LTXPipeline (ltx)" in err
