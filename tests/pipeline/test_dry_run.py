"""``render --dry-run`` counts the work as the farm schedules it (one cost formula, farm/schedule.shot_cost)."""

from __future__ import annotations

from helpers import write

from storyboard.cli import main
from storyboard.farm.schedule import shot_cost
from storyboard.pipeline import plan_script
from storyboard.script.load import load_script


def test_dry_run_counts_denoiser_evaluations_as_the_farm_does(tmp_path, capsys):
    script = write(tmp_path / "s.yaml", "output: {path: v.mp4, width: 64, height: 64, fps: 8}\n"
                   "model: {id: tiny-random, steps: 3, guidance: 5}\nscenes:\n"
                   "  - {id: a, duration: 3s, prompts: a red room}\n  - {id: b, duration: 2s, prompts: a blue room}\n")
    plan = plan_script(load_script(script)).plan
    expected = sum(int(shot_cost(plan, shot)) for shot in plan.shots)
    assert main(["render", str(script), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"2 of 2 segments to render: 40 frames, 5.0 s of video ({expected} denoiser (latent) frame-evaluations " \
           "at 3 steps)" in out
    assert expected == 288  # 2 shots, windows of the tiny model, 3 steps, both guidance branches
    assert not (tmp_path / ".storyboard-cache").exists()
