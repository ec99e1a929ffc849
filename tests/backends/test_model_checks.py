"""The model a script names, checked before torch is imported: size rules (one table, one wording,
shared with the families' load-time checks), built-in names with a did-you-mean, folders, the
Hugging Face cache; the tiny Wan at any size its rule admits; no hub deprecation warning."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import warnings

import pytest
from helpers import write

from storyboard.cli import main
from storyboard.backends.model_checks import model_problems, model_warnings
from storyboard.backends.registry import FAMILIES, SizeRule, built_in, rule_from_configs
from storyboard.backends.sources import locate_model

SCRIPT = "output: {width: 640, height: 360, fps: 8}\nmodel: {id: MODEL, steps: 1}\nscenes:\n  - {duration: 1s, prompts: a}\n"


def refusal(model: str, family: str, value: int, step: int, nearest: str) -> str:
    return (f"output.height: {value} does not fit model '{model}' ({family}): width and height must be multiples of "
            f"{step} pixels (nearest: {nearest})")


def test_validate_plan_and_dry_run_refuse_a_size_before_torch_is_imported(tmp_path):
    """640x360 passed validate, plan --model and render --dry-run, and failed 44-64 s into the render."""
    script = write(tmp_path / "s.yaml", SCRIPT.replace("MODEL", "tiny-ltx"))
    code = f"""
import sys
from storyboard.cli import main
codes = [main(["validate", {str(script)!r}]), main(["plan", {str(script)!r}, "--model", "tiny-wan"]),
         main(["render", {str(script)!r}, "--dry-run", "--model", "tiny-random"])]
print(codes, "torch" in sys.modules, "diffusers" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "[2, 2, 2] False False", result.stderr
    where = f"{script}:1:30: error: "
    assert where + refusal("tiny-ltx", "ltx", 360, 32, "352 or 384") in result.stderr
    assert where + refusal("tiny-wan", "wan", 360, 16, "352 or 368") in result.stderr
    assert where + refusal("tiny-random", "unet3d", 360, 16, "352 or 368") in result.stderr
    assert "output.width" not in result.stderr  # 640 fits all three


@pytest.mark.parametrize("family", ["unet3d", "wan", "ltx"])
def test_the_tiny_models_rules_in_the_table_are_their_configs_and_loading_words_them_the_same(family):
    """The torch-free table agrees with the loaded model, and the family's own check (the render's, after
    loading) refuses with the same words as validate, field first."""
    import importlib

    from storyboard.errors import UsageError

    module = importlib.import_module(f"storyboard.backends.diffusion.families.{family}")
    c = module.tiny_components()
    denoiser = c.unet if family == "unet3d" else c.transformer
    tiny = FAMILIES[family].tiny
    assert rule_from_configs(family, dict(c.vae.config), dict(denoiser.config)) == FAMILIES[family].tiny_rule
    step = FAMILIES[family].tiny_rule.height_step
    with pytest.raises(UsageError) as refused:
        module.check_size(c, 640, 360)
    nearest = f"{360 // step * step} or {-(-360 // step) * step}"
    assert str(refused.value) == refusal(tiny, family, 360, step, nearest)
    [problem] = model_problems(tiny, 640, 360)
    assert (problem.field, "output.height: " + problem.message) == ("height", str(refused.value))
    module.check_size(c, 640, 352 if step == 16 else 384)


def test_a_size_rule_says_both_fields_and_its_limit():
    rule = SizeRule(16, 32, max_width=1024, max_height=512)
    assert rule.problems(1030, 500) == [
        ("width", 1030, "width must be at most 1024 pixels (nearest: 1024)"),
        ("height", 500, "width must be a multiple of 16 pixels and height of 32 (nearest: 480 or 512)"),
    ]
    assert rule.problems(1024, 512) == []
    assert SizeRule(16, 16).problems(8, 16) == [("width", 8, "width and height must be multiples of 16 pixels "
                                                              "(nearest: 16)")]


def test_the_tiny_wan_renders_wider_than_512_pixels():
    """Its rotary table covered 32 patches a side: 640 pixels wide (40 patches) crashed in the DiT
    with a raw shape error. Now it covers Wan's own 1024."""
    import torch

    from storyboard.backends.diffusion.families import wan

    c = wan.tiny_components()
    x = torch.randn(1, 16, 2, 352 // 8, 640 // 8)  # 640x352 pixels, 2 latent frames
    text = torch.randn(1, wan.TINY_TEXT_LENGTH, 32)
    out = c.transformer(hidden_states=x, timestep=torch.tensor([500]), encoder_hidden_states=text, return_dict=False)[0]
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert wan.size_rule(c) == SizeRule(16, 16, 16384, 16384)


def test_a_near_miss_of_a_built_in_name_gets_a_did_you_mean_at_model_id(tmp_path, capsys):
    script = write(tmp_path / "s.yaml", SCRIPT.replace("MODEL", "tiny-randm").replace("360", "352"))
    assert main(["validate", str(script)]) == 2
    assert (f"{script}:2:13: error: model.id: 'tiny-randm' is not a model storyboard knows, nor a folder: did you "
            f"mean 'tiny-random'? (built in: {', '.join(built_in())})") in capsys.readouterr().err


def test_a_typo_on_the_command_line_fails_at_once_naming_the_option(tmp_path, capsys):
    """--model preview2 waited 8-14 s (torch, then the hub), then said `hf download preview2`."""
    import storyboard.backends.diffusion.families  # noqa: F401 - torch already in: the time is the check's own

    script = write(tmp_path / "s.yaml", SCRIPT.replace("MODEL", "preview").replace("360", "352"))
    out = tmp_path / "v.mp4"
    began = time.monotonic()
    assert main(["render", str(script), "--model", "preview2", "-o", str(out)]) == 2
    assert main(["render", str(script), "--model", "nobody/no-such-model", "-o", str(out)]) == 2
    took = time.monotonic() - began
    err = capsys.readouterr().err
    assert (f"{script}: error: --model 'preview2' is not a model storyboard knows, nor a folder: did you mean "
            "'preview'?") in err
    assert "hf download preview2" not in err
    assert "--model model 'nobody/no-such-model' is not available: it is not in the Hugging Face cache" in err
    assert "HF_HUB_OFFLINE is set" in err and "`hf download nobody/no-such-model`" in err
    assert took < 2.0, f"{took:.1f} s" and not out.exists()


def test_a_missing_folder_is_refused_at_model_id(tmp_path, capsys):
    script = write(tmp_path / "s.yaml", SCRIPT.replace("MODEL", "./models/wan").replace("360", "352"))
    assert main(["validate", str(script)]) == 2
    assert "error: model.id: model folder './models/wan' does not exist" in capsys.readouterr().err


def fake_cache(root, repo: str, index: dict, vae: dict | None = None, transformer: dict | None = None):
    """A Hugging Face hub cache holding ``repo`` at ``main`` (the layout huggingface_hub writes)."""
    folder = root / f"models--{repo.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = folder / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(commit)
    (snapshot / "model_index.json").write_text(json.dumps(index))
    for name, config in (("vae", vae), ("transformer", transformer)):
        if config is not None:
            (snapshot / name).mkdir()
            (snapshot / name / "config.json").write_text(json.dumps(config))
    return snapshot


def test_a_cached_hub_id_is_found_and_its_configs_give_the_rule(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    snapshot = fake_cache(tmp_path / "hub", "org/ti2v", {"_class_name": "WanPipeline", "expand_timesteps": True},
                          vae={"scale_factor_spatial": 16}, transformer={"patch_size": [1, 2, 2]})
    source = locate_model("org/ti2v")
    assert (source.kind, source.folder, source.family) == ("cached", snapshot, "wan")
    assert model_problems("org/ti2v", 640, 352) == []
    problems = model_problems("org/ti2v", 640, 360)
    assert [(p.field, p.message) for p in problems] == [
        ("height", "360 does not fit model 'org/ti2v' (wan): width and height must be multiples of 32 pixels "
                   "(nearest: 352 or 384)")]
    script = write(tmp_path / "s.yaml", SCRIPT.replace("MODEL", "org/ti2v").replace("360", "352"))
    assert main(["validate", str(script)]) == 0, capsys.readouterr().err
    assert locate_model("org/other").kind == "hub"


def test_an_uncached_hub_id_is_an_error_offline_and_a_warning_online(tmp_path, monkeypatch):
    """Offline, the render could only fail (after importing torch); online it would download the model."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    [problem] = model_problems("org/absent", 64, 64)
    assert problem.field == "id" and problem.message.startswith(
        f"model 'org/absent' is not available: it is not in the Hugging Face cache ({tmp_path / 'hub'}). "
        "HF_HUB_OFFLINE is set")
    assert model_warnings("org/absent") == []
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert model_problems("org/absent", 64, 64) == []
    assert model_warnings("org/absent") == [
        f"model 'org/absent' is neither built in ({', '.join(built_in())}), nor a folder, nor in "
        f"the Hugging Face cache ({tmp_path / 'hub'}): render will download it from the hub"]
    # a known family's base rule holds before its configs are at hand
    assert [p.message for p in model_problems("Lightricks/LTX-Video", 640, 360)] == [
        "360 does not fit model 'Lightricks/LTX-Video' (ltx): width and height must be multiples of 32 pixels "
        "(nearest: 352 or 384)"]


def test_the_loader_refuses_an_uncached_hub_id_before_torch():
    code = """
import sys
from storyboard.backends.diffusion.loading import ModelUnavailable, check_available
check_available("tiny-wan")
try:
    check_available("nobody/no-such-model")
except ModelUnavailable as exc:
    print(str(exc).split(":")[0], "torch" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "model 'nobody/no-such-model' is not available False", result.stderr


def test_loading_by_hub_id_prints_no_hub_deprecation_warning(tmp_path, monkeypatch):
    """diffusers' load_config passes huggingface_hub a deprecated argument (local_dir_use_symlinks): every
    model loaded by hub id printed a UserWarning into the render's output."""
    from diffusers import DiffusionPipeline

    from storyboard.backends.diffusion.loading import quiet_libraries

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    fake_cache(tmp_path / "hub", "org/tiny", {"_class_name": "WanPipeline"})
    cache = str(tmp_path / "hub")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        DiffusionPipeline.load_config("org/tiny", local_files_only=True, cache_dir=cache)
    assert any("local_dir_use_symlinks" in str(w.message) for w in caught)  # the library still does it
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_libraries()
        index = DiffusionPipeline.load_config("org/tiny", local_files_only=True, cache_dir=cache)
    assert index["_class_name"] == "WanPipeline"
    assert [str(w.message) for w in caught] == []


HUB_WITHOUT_THE_MODEL = r'''
import http.server, socket, sys, threading, time
from storyboard.cli import main

class NoSuchRepo(http.server.BaseHTTPRequestHandler):
    def answer(self):
        self.send_response(404)
        self.send_header("X-Error-Code", "RepoNotFound")
        self.send_header("Content-Length", "0")
        self.end_headers()
    do_GET = do_HEAD = answer
    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NoSuchRepo)
threading.Thread(target=server.serve_forever, daemon=True).start()
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    closed = s.getsockname()[1]
import os
codes, times = [], []
for endpoint in (f"http://127.0.0.1:{server.server_port}", f"http://127.0.0.1:{closed}"):
    os.environ["HF_ENDPOINT"] = endpoint
    began = time.monotonic()
    codes.append(main(["render", sys.argv[1], "--model", "nobody/no-such-model", "-o", sys.argv[2], "-q"]))
    times.append(time.monotonic() - began)
print(codes, "torch" in sys.modules, max(times) < 10)
'''


def test_a_render_online_refuses_a_model_the_hub_lacks_or_cannot_serve_before_torch(tmp_path):
    """HF_HUB_OFFLINE unset: a hub that says the repository does not exist, and a hub that cannot be
    reached, both end the render with exit 2 before torch is imported (it took 8-14 s with torch)."""
    import os

    script = write(tmp_path / "s.yaml", SCRIPT.replace("MODEL", "preview").replace("360", "352"))
    env = {**os.environ, "HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf"), "HF_HUB_DISABLE_TELEMETRY": "1"}
    result = subprocess.run([sys.executable, "-c", HUB_WITHOUT_THE_MODEL, str(script), str(tmp_path / "v.mp4")],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.stdout.strip() == "[2, 2] False True", result.stderr
    assert "model 'nobody/no-such-model' is not on the Hugging Face hub (http://127.0.0.1:" in result.stderr
    assert "nor in the local cache: check its name (org/name)" in result.stderr
    assert "model 'nobody/no-such-model' is not available: it is not in the local cache, and the hub cannot be " \
           "reached (http://127.0.0.1:" in result.stderr
    assert not (tmp_path / "v.mp4").exists()


def test_the_studio_refuses_the_size_when_the_job_is_checked_not_after_torch(tmp_path):
    """A studio job failed like the render, after loading the model; its check is plan_script's too."""
    from storyboard.studio.checks import check_text
    from storyboard.studio.folder import Folder

    (tmp_path / "studio").mkdir()
    folder = Folder.at(tmp_path / "studio")
    text = SCRIPT.replace("MODEL", "preview")
    checked = check_text(text, folder.root / "s.yaml", folder, model="tiny-ltx")
    assert not checked.ok
    [problem] = checked.problems
    assert (problem.field, problem.line, problem.message) == (
        "output.height", 1, "360 does not fit model 'tiny-ltx' (ltx): width and height must be multiples of 32 pixels "
        "(nearest: 352 or 384)")
    assert check_text(text.replace("360", "352"), folder.root / "s.yaml", folder, model="tiny-ltx").ok


@pytest.mark.parametrize(("hf_hub_offline", "transformers_offline", "offline"), [
    ("1", None, True), ("ON", None, True), ("yes", None, True), ("True", None, True), (" 1", None, False),
    ("0", None, False), ("off", None, False), ("false", None, False), ("no", None, False), ("", None, False),
    (None, "1", True), ("", "yes", True), ("0", "1", False), (None, None, False),
])
def test_one_hub_offline_check_reads_the_variables_as_huggingface_hub_does(monkeypatch, hf_hub_offline,
                                                                          transformers_offline, offline):
    """HF_HUB_OFFLINE, else TRANSFORMERS_OFFLINE, one of 1/on/yes/true: 'off' no longer counts as offline
    for storyboard while huggingface_hub goes online, and TRANSFORMERS_OFFLINE=1 keeps both off the hub."""
    from storyboard.hub import hub_offline

    for name, value in (("HF_HUB_OFFLINE", hf_hub_offline), ("TRANSFORMERS_OFFLINE", transformers_offline)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert hub_offline() is offline
