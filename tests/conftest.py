import os
import sys
import tempfile
from pathlib import Path

# No test may touch the network: huggingface_hub reads this when first imported.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
# Nor may it write the user's caches (music analyses, speech): one of the session's own.
os.environ["STORYBOARD_CACHE"] = tempfile.mkdtemp(prefix="storyboard-test-cache-")

import pytest  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))


def pytest_sessionstart(session):
    """Compile storyboard's bytecode, as pip does when it installs a wheel. The tests that bound a
    command's CPU time measure the command as users run it; where PYTHONDONTWRITEBYTECODE is set
    (CI images often set it) nothing would be cached, and every process would compile storyboard
    anew: a third of a second of CPU, enough to fail a bound of half a second."""
    import compileall

    compileall.compile_dir(str(Path(__file__).resolve().parents[1] / "storyboard"), quiet=1)


@pytest.fixture(scope="session")
def example_media():
    """The examples' music, made by the project's synthesiser (as the README says)."""
    from storyboard.music.synth import synth_track, write_wav

    root = Path(__file__).resolve().parents[1]
    path = root / "examples" / "media" / "pulse-120.wav"
    if not path.exists():
        write_wav(synth_track(120.0, 48.0), path)
    return path


@pytest.fixture(scope="session")
def tiny():
    """The tiny random model's components (built once per session)."""
    from storyboard.backends.diffusion.families.unet3d import tiny_components

    return tiny_components()


@pytest.fixture
def private_cache(tmp_path_factory, monkeypatch):
    """A music analysis cache of the test session's own (not the user's ~/.cache/storyboard)."""
    monkeypatch.setenv("STORYBOARD_CACHE", str(tmp_path_factory.getbasetemp() / "analysis-cache"))
