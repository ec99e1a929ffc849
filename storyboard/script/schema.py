"""The storyboard script: pydantic models, one place for every default.

A script is YAML or JSON. Unknown fields are errors. Shorthands are normalised
before validation so that error paths stay simple (``scenes[2].prompts[1].at``):

* ``model: preview``            -> ``model: {id: preview}``
* ``music: {...}``              -> ``music: [{...}]``
* ``prompts: "text"``           -> ``prompts: [{at: 0, text: "text"}]``
* ``prompts: ["a", "b", "c"]``  -> keys spread evenly over the scene
* ``transition: morph``         -> ``transition: {type: morph}``
* ``hold: true``                -> ``hold: {}``
* ``caption: "text"``           -> ``caption: {text: "text"}``
* ``subjects: mara``            -> ``subjects: [mara]`` (a scene's, and a subject's ``images``)

Images and videos (start images, keyframes, subjects' reference images, control videos) are
paths relative to the script's folder, checked like music files: the file must exist and be
a regular file (:mod:`storyboard.script.load`), and it must decode (the media probe,
:mod:`storyboard.media`).

Times accept seconds, frames, beats and bars (see :mod:`storyboard.script.timecode`).
"""

from __future__ import annotations

import re
from pathlib import PurePath, PureWindowsPath
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from storyboard.script.timecode import (
    DURATION_HELP,
    TIME_HELP,
    AutoDuration,
    TimeValue,
    parse_duration,
    parse_time,
)

_TIME_SCHEMA = {
    "anyOf": [
        {"type": "number", "minimum": 0},
        {
            "type": "string",
            "pattern": r"^\s*([0-9]+(\.[0-9]*)?|\.[0-9]+)\s*(ms|s|sec|secs|seconds?|f|frames?|b|beats?|bars?)?\s*$"
            r"|^\s*[0-9]+:[0-9]+(\.[0-9]*)?\s*$",
        },
    ],
    "description": TIME_HELP.capitalize() + ". Numbers are seconds.",
}

Time = Annotated[
    TimeValue,
    PlainValidator(parse_time),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(_TIME_SCHEMA),
]


KEY_END = "end"  # a keyframe's ``at: end``: the scene's last frame


def parse_key_time(value: Any) -> TimeValue | str:
    """A keyframe's time: a time from the scene's start (:func:`parse_time`), or ``end`` for the
    scene's last frame."""
    if isinstance(value, str) and value.strip().lower() == KEY_END:
        return KEY_END
    try:
        return parse_time(value)
    except ValueError as exc:
        raise ValueError(f"{exc}, or end (the scene's last frame)") from None


KeyTime = Annotated[
    TimeValue | Literal["end"],
    PlainValidator(parse_key_time),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"anyOf": [*_TIME_SCHEMA["anyOf"], {"const": KEY_END}],
                    "description": TIME_HELP.capitalize() + ", from the scene's start (numbers are seconds), or "
                    "end: the scene's last frame."}),
]


def _listed(value: Any) -> Any:
    """One item written without its list (``subjects: mara``) -> ``[mara]``."""
    return [value] if isinstance(value, str) else value


def parse_or_none(value: Any) -> TimeValue | AutoDuration | None:
    """A duration as :func:`parse_duration` reads it, or None when it is not one."""
    try:
        return parse_duration(value)
    except (ValueError, TypeError):
        return None


_DURATION_SCHEMA = {
    "anyOf": [*_TIME_SCHEMA["anyOf"], {"type": "string", "pattern": r"^\s*[Aa][Uu][Tt][Oo]\s*(\+.*)?$"}],
    "description": DURATION_HELP.capitalize() + ". Numbers are seconds.",
}

Duration = Annotated[
    TimeValue | AutoDuration,
    PlainValidator(parse_duration),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(_DURATION_SCHEMA),
]

MIN_BPM, MAX_BPM = 1, 400  # beats per minute: every tempo a script writes lies in this range


def tempo(value: Any, example: str = "such as 120") -> float:
    """A tempo in BPM from :data:`MIN_BPM` to :data:`MAX_BPM` (a number, or text that reads as one:
    YAML reads ``1e3`` as text). Raises ValueError in plain words otherwise (a denormal ``1e-320``,
    ``.nan`` or ``.inf`` included)."""
    number = value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        raise ValueError(f"expected a tempo in BPM {example}, got {value!r}")
    if not MIN_BPM <= number <= MAX_BPM:  # NaN fails this too
        raise ValueError(f"expected a tempo from {MIN_BPM} to {MAX_BPM} BPM, got {value if isinstance(value, str) else repr(number)}")
    return float(number)


Curve = Literal["linear", "ease-in", "ease-out", "ease-in-out", "smooth", "step", "beats"]

SCENE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Output(_Strict):
    """Where and how the video is written."""

    path: str | None = Field(None, description="MP4 to write, relative to the script's folder and inside it (to write "
                             "elsewhere, use -o on the command line). Default: the script's name with .mp4, beside it.")
    width: int = Field(1024, ge=16, le=8192, multiple_of=8, description="Frame width in pixels (a multiple of 8).")
    height: int = Field(576, ge=16, le=8192, multiple_of=8, description="Frame height in pixels (a multiple of 8).")
    fps: int = Field(24, ge=1, le=120, description="Frames per second.")
    quality: int = Field(18, ge=0, le=51, description="H.264 constant rate factor: 0 is lossless, 18 visually lossless, 28 small.")
    preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"] = Field(
        "medium", description="x264 speed/size trade-off."
    )
    captions: Literal["none", "burn", "srt", "vtt", "both", "all"] = Field(
        "srt", description="Captions (written ones and the narration's): burn into the picture, write an .srt "
        "or a WebVTT .vtt beside the MP4, both (burn and .srt), all (burn, .srt and .vtt), or none."
    )
    loudness: float | None = Field(-16.0, ge=-40, le=-5, description="Integrated loudness of the final mix in LUFS "
                                   "(EBU R128); null leaves the levels as mixed.")
    true_peak: float = Field(-1.0, ge=-9, le=0, description="Ceiling for the mix's true peak in dBTP, with loudness.")

    @field_validator("path")
    @classmethod
    def _inside_the_script_folder(cls, value: str | None) -> str | None:
        """A script writes only inside its own folder: no absolute path, no ``~``, no ``..``."""
        if value is None:
            return value
        parts = PurePath(value).parts
        if PurePath(value).is_absolute() or PureWindowsPath(value).is_absolute() or value.startswith("~") or ".." in parts:
            raise ValueError(f"'{value}' leaves the script's folder; a script writes only inside its folder "
                             "(to write elsewhere, pass -o on the command line)")
        if not parts or value.endswith(("/", "\\")):
            raise ValueError(f"'{value}' names a folder; name the video file, e.g. out/video.mp4")
        return value


class Window(_Strict):
    """The model's native clip length, slid over each shot with overlap."""

    frames: int = Field(16, ge=2, le=256, description="Frames the denoiser sees at once (ModelScope/zeroscope). "
                        "Wan and LTX-Video always use their native clip: 81 and 121 frames.")
    overlap: int = Field(4, ge=0, description="Frames shared by neighbouring windows; for Wan and LTX-Video, latent "
                         "frames (4 or 8 frames each).")

    @model_validator(mode="after")
    def _overlap_below_frames(self) -> "Window":
        if self.overlap >= self.frames:
            raise ValueError(f"overlap ({self.overlap}) must be smaller than frames ({self.frames})")
        return self


class Model(_Strict):
    """Which backend renders the frames, and its sampling settings."""

    id: str = Field(
        "preview",
        min_length=1,
        description='"preview" (built-in animatic, no GPU), "tiny-random" (offline smoke-test model), '
        "a Hugging Face hub id (damo-vilab/text-to-video-ms-1.7b) or a local folder.",
    )
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit) of the model.")
    steps: int = Field(25, ge=1, le=1000, description="Denoising steps.")
    guidance: float = Field(9.0, ge=0, le=50, description="Classifier-free guidance scale (1 disables it).")
    negative: str = Field("", description="Negative prompt.")
    seed: int = Field(0, ge=0, lt=2**31, description="Base seed; each scene's seed derives from it and the scene id unless set.")
    window: Window = Field(default_factory=Window)
    scheduler: Literal["auto", "ddim", "dpm++", "unipc", "euler"] = Field(
        "auto", description="Sampler. auto: the model family's own (DDIM for ModelScope/zeroscope, UniPC with flow "
        "matching for Wan, flow-matching Euler for LTX-Video); ddim or dpm++ (DPM-Solver++ 2M) for ModelScope; "
        "unipc or euler (flow matching) for Wan and LTX.")
    noise: Literal["independent", "freenoise"] = Field(
        "freenoise", description="Initial noise: independent per frame, or FreeNoise (shuffled repeats of a window's noise)."
    )
    device: Literal["auto", "cuda", "mps", "cpu"] = "auto"
    dtype: Literal["auto", "bf16", "fp16", "fp32"] = Field("auto", description="auto: bf16 on CUDA, fp16 on MPS, fp32 on CPU.")
    offload: bool = Field(False, description="Move each component to the GPU only while it runs (saves memory, slower).")
    vae_slicing: bool = True
    vae_tiling: bool = False

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"id": data} if isinstance(data, str) else data


class MusicTrack(_Strict):
    """An audio track mixed under the video. The first track is the beat grid's source."""

    path: str = Field(min_length=1, description="Audio file, relative to the script's folder: wav, flac, ogg, mp3, m4a/aac or "
                      "anything else the bundled ffmpeg reads (a video file's audio too).")
    offset: Time = Field("0s", validate_default=True, description="When the track starts playing, in video time.")
    start: Time = Field("0s", validate_default=True, description="Where in the file playback begins (skips its head).")
    volume: float = Field(1.0, ge=0, le=4, description="Gain: 1 leaves the level as recorded.")
    fade_in: Time = Field("0s", validate_default=True, description="Fade-in length from the track's start.")
    fade_out: Time = Field("0s", validate_default=True,
                           description="Fade-out length, ending where the track stops: at the video's end, or at "
                           "the file's end if the track runs out first (never with loop: true).")
    loop: bool = Field(False, description="Repeat the track (from start to the file's end, again and again) "
                       "until the video ends.")
    sync: Literal["none", "beats", "bars", "onsets"] = Field(
        "none", description="Snap scene boundaries written in seconds to the nearest beat, downbeat or onset, "
        "when one lies within a beat (a bar for bars); a boundary with none that close stays, with a warning."
    )
    bpm: (Annotated[float, Field(ge=MIN_BPM, le=MAX_BPM)]
          | tuple[Annotated[float, Field(ge=MIN_BPM, le=MAX_BPM)], Annotated[float, Field(ge=MIN_BPM, le=MAX_BPM)]]
          | None) = Field(
        None, description="Tempo hint for the beat tracker (first track only): about this many beats per minute, "
        f"from {MIN_BPM} to {MAX_BPM}, e.g. 174, or a range [low, high], e.g. [160, 180]. Use it when the tracker "
        "picks half or double the tempo a listener taps (`storyboard beats` says when that was a close call)."
    )

    @field_validator("bpm", mode="before")
    @classmethod
    def _tempo_hint(cls, value: Any) -> Any:
        """A tempo from :data:`MIN_BPM` to :data:`MAX_BPM`, or a range [low, high] of two such with low below high."""
        if value is None:
            return None
        if not isinstance(value, (list, tuple)):
            return tempo(value, "such as 174, or a range [low, high] such as [160, 180]")
        if len(value) != 2:
            raise ValueError(f"expected a range [low, high] of two tempos such as [160, 180], got {value!r}")
        low, high = (tempo(v, "such as 174, or a range [low, high] such as [160, 180]") for v in value)
        if low == high:
            raise ValueError(f"range [{low:g}, {high:g}]: low must be below high; for one tempo write a number, "
                             f"bpm: {low:g}")
        if low > high:
            raise ValueError(f"range [{low:g}, {high:g}]: low must be below high, e.g. [{high:g}, {low:g}]")
        return low, high


class PromptKey(_Strict):
    """A prompt keyed at a time within its scene; the prompt interpolates from the previous key."""

    at: Time = Field("0s", validate_default=True, description="Time from the scene's start.")
    text: str = Field(min_length=1)
    curve: Curve | None = Field(None, description="Easing of the glide from the previous key (default: the scene's curve).")

    @field_validator("text")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("prompt text is blank")
        return v.strip()


class Transition(_Strict):
    """How the previous scene becomes this one."""

    type: Literal["cut", "crossfade", "morph"] = Field(
        "cut",
        description="cut: a new shot; crossfade: a new shot blended in by the compositor; "
        "morph: the same latent video continues and the prompt glides.",
    )
    duration: Time | None = Field(
        None,
        description="crossfade default 1s; morph default: until the scene's second prompt key (or the whole scene).",
    )
    curve: Curve = Field("linear", description="Easing of the blend or glide.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"type": data} if isinstance(data, str) else data


class Hold(_Strict):
    """A span where the prompt stays put, optionally pulsing on beats for emphasis."""

    at: Time = Field("0s", validate_default=True, description="Start, from the scene's start. With no duration, "
                     "a hold at 0 in a morph scene starts when the morph ends; a hold with a duration must not "
                     "overlap the morph or a prompt glide.")
    duration: Time | None = Field(None, description="Length, at least one frame; default: to the scene's end.")
    pulse: Literal["none", "beats", "bars"] = Field("none", description="Pulse on every beat or every bar.")
    strength: float = Field(0.5, ge=0, le=1, description="Pulse height, 0 to 1.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {} if data is True else data


class Caption(_Strict):
    """Caption text shown during the scene."""

    text: str = Field(min_length=1)
    at: Time = Field("0s", validate_default=True, description="Start, from the scene's start.")
    duration: Time | None = Field(None, description="Length; default: to the scene's end.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"text": data} if isinstance(data, str) else data


class Narration(_Strict):
    """Words spoken over the scene by the offline voice; they set ``duration: auto`` and become captions."""

    text: str = Field(min_length=1, description="What is said. Sentences are spoken and captioned one by one.")
    voice: str | None = Field(None, description="A voice for this scene (default: the script's voice.voice).")
    speed: float | None = Field(None, ge=0.5, le=2, description="Speaking rate, 1 as the voice speaks (default: voice.speed).")
    at: Time = Field("0s", validate_default=True, description="When the voice starts, from the scene's start (seconds or frames).")
    pause: Time | None = Field(None, description="Silence between sentences (default: voice.pause).")

    @field_validator("text")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("narration text is blank")
        return " ".join(v.split())

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"text": data} if isinstance(data, str) else data


class Voice(_Strict):
    """The narration's defaults, and how the music makes room for it."""

    engine: Literal["piper"] = Field("piper", description="Text-to-speech engine: piper (offline, neural).")
    voice: str = Field("en_US-joe-medium", min_length=1, description="An installed voice's name (see `storyboard "
                       "voices`) or a piper .onnx file, relative to the script's folder.")
    speed: float = Field(1.0, ge=0.5, le=2, description="Speaking rate, 1 as the voice speaks.")
    volume: float = Field(1.0, ge=0, le=4, description="Gain on the voice: 1 leaves it as synthesised.")
    pause: Time = Field("0.35s", validate_default=True, description="Silence between sentences (seconds or frames).")
    captions: bool = Field(True, description="Show the narration as captions, sentence by sentence, timed to the voice.")
    duck: float = Field(12.0, ge=0, le=60, description="How far the music drops under the voice, in dB.")
    attack: Time = Field("0.15s", validate_default=True, description="How fast the music drops when the voice starts.")
    release: Time = Field("0.6s", validate_default=True, description="How fast it comes back when the voice stops.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"voice": data} if isinstance(data, str) else data


SUBJECT_NAME = SCENE_ID  # a subject's name: letters, digits, _ . - (cited by scenes)
CONTROL_KINDS = ("pose", "depth", "edge")


def one_or_many(schema: dict[str, Any], name: str) -> None:
    """Let the JSON Schema's list property ``name`` be written as one item, as the models accept."""
    prop = schema["properties"][name]
    listed = {k: v for k, v in prop.items() if k not in ("description", "default")}
    schema["properties"][name] = {"anyOf": [prop["items"], listed],
                                  **{k: prop[k] for k in ("description", "default") if k in prop}}


class Subject(_Strict):
    """A named character, product or place: declared once under ``subjects:``, cited by the scenes it
    appears in (``subjects: [name]``). Models that take reference images see its images in every
    frame of those scenes; the preview shows them as thumbnails."""

    description: str = Field(min_length=1, description="What it is, in a few words (e.g. 'a girl of ten in a "
                             "yellow raincoat'); the plan keeps it with the subject's images.")
    images: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1, description="One or more reference images (PNG, JPEG, WebP, ...), "
                              "relative to the script's folder; one path or a list.")

    @field_validator("images", mode="before")
    @classmethod
    def _one_image(cls, value: Any) -> Any:
        return _listed(value)

    @field_validator("description")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("the description is blank")
        return " ".join(v.split())

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True,
                              json_schema_extra=lambda schema: one_or_many(schema, "images"))


class Keyframe(_Strict):
    """An image the shot passes through at a given time."""

    at: KeyTime = Field(description="When, from the scene's start, in any unit a time takes (6s, 48f, 8 beats, "
                        "2 bars), or end: the scene's last frame.")
    image: str = Field(min_length=1, description="The image, relative to the script's folder.")


class Control(_Strict):
    """A video (or a folder of numbered frames) whose motion drives the scene: a pose skeleton, a depth
    map or an edge map, already extracted. Its frame at ``start`` lines up with the scene's first frame;
    from there its frames are taken at their own rate (a 30 fps control under a 24 fps video skips
    some), so it must last at least as long as the scene."""

    video: str = Field(min_length=1, description="A video file, or a folder of frames (image files, in the order "
                       "of their names, at the script's fps), relative to the script's folder.")
    kind: Literal["pose", "depth", "edge"] = Field(description="What the video shows: pose (skeletons), depth "
                                                  "(near is bright) or edge (lines on black).")
    start: Time = Field("0s", validate_default=True, description="Where in the control video the scene's first frame "
                        "is taken, in seconds or frames (frames of the control video's own rate).")


class Scene(_Strict):
    """A span of time with a prompt sequence."""

    id: str | None = Field(None, description="Unique name (letters, digits, _ . -). Default: scene1, scene2, ...")
    duration: Duration = Field(description="Length of the scene; auto: as long as its narration (auto + 1s adds 1 s).")
    prompts: list[PromptKey] = Field(min_length=1, description="One prompt, or prompts keyed by time (interpolated between).")
    transition: Transition = Field(default_factory=Transition, description="How the previous scene becomes this one.")
    curve: Curve = Field("linear", description="Default easing between this scene's prompt keys.")
    hold: Hold | None = None
    seed: int | None = Field(None, ge=0, lt=2**31, description="Noise seed for this scene.")
    caption: Caption | None = None
    narration: Narration | None = None
    subjects: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list, description="The subjects this scene shows: names declared "
                                "under the script's subjects (one name or a list).")
    image: str | None = Field(None, min_length=1, description="Start image: the shot begins on this picture (relative to the "
                              "script's folder). Not on a morph (it continues a shot); give a keyframe there.")
    keyframes: list[Keyframe] = Field(default_factory=list, description="Images the shot passes through, each at a "
                                      "time from the scene's start (at: end for its last frame).")
    continue_: bool = Field(False, alias="continue", description="On a cut: start from the previous shot's last "
                            "frames (a new angle or prompt, the same moment), instead of from noise.")
    control: Control | None = Field(None, description="A pose, depth or edge video that drives the scene's motion.")
    anchor: float | None = Field(None, ge=0, le=1, description="Colour anchoring of a long shot: how strongly each "
                                 "window's colours are pulled toward its first window's (or its start image's), 0 "
                                 "(off) to 1. Default: the model family's own choice. Set on the scene that starts "
                                 "the shot.")

    @field_validator("subjects", mode="before")
    @classmethod
    def _one_subject(cls, value: Any) -> Any:
        return _listed(value)

    @field_validator("id")
    @classmethod
    def _id_form(cls, v: str | None) -> str | None:
        if v is not None and not SCENE_ID.match(v):
            raise ValueError(f"'{v}' is not a valid scene id; use letters, digits, '_', '.' and '-'")
        return v

    @field_validator("duration")
    @classmethod
    def _positive(cls, v: TimeValue | AutoDuration) -> TimeValue | AutoDuration:
        if v.is_zero:
            raise ValueError("a scene's duration must be greater than zero")
        return v

    @model_validator(mode="before")
    @classmethod
    def _prompt_shorthand(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "prompts" not in data:
            return data
        prompts = data["prompts"]
        if isinstance(prompts, str):
            prompts = [prompts]
        if isinstance(prompts, list) and all(isinstance(p, str) for p in prompts) and len(prompts) > 1:
            # Plain strings spread evenly: first at 0, last at the scene's end.
            n = len(prompts) - 1
            duration = data.get("duration")
            if isinstance(parse_or_none(duration), AutoDuration):
                raise ValueError("a list of prompts is spread over the scene's duration, and duration: auto is not "
                                 "known until the narration is spoken: give each prompt an at:, e.g. "
                                 "prompts: [{at: 0s, text: ...}, {at: 4s, text: ...}]")
            try:
                total = parse_time(duration)
            except ValueError:
                return {**data, "prompts": [{"text": p} for p in prompts]}  # duration's own error reports
            prompts = [{"at": TimeValue(total.amount * i / n, total.unit), "text": p} for i, p in enumerate(prompts)]
        elif isinstance(prompts, list):
            prompts = [{"text": p} if isinstance(p, str) else p for p in prompts]
        return {**data, "prompts": prompts}

    @staticmethod
    def _schema_extra(schema: dict[str, Any]) -> None:
        keyed = schema["properties"]["prompts"]
        schema["properties"]["prompts"] = {
            "description": keyed.get("description"),
            "anyOf": [
                {"type": "string", "minLength": 1},
                {"type": "array", "minItems": 1, "items": {"anyOf": [{"type": "string", "minLength": 1}, keyed["items"]]}},
            ],
        }
        for name in ("transition", "hold", "caption", "narration"):
            prop = schema["properties"][name]
            shorthand = {
                "transition": {"enum": ["cut", "crossfade", "morph"]},
                "hold": {"const": True},
                "caption": {"type": "string", "minLength": 1},
                "narration": {"type": "string", "minLength": 1},
            }[name]
            schema["properties"][name] = {"anyOf": [shorthand, *prop.get("anyOf", [prop])], **({"description": prop["description"]} if "description" in prop else {})}
            schema["properties"][name].get("anyOf")[1].pop("description", None)
        one_or_many(schema, "subjects")

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True, json_schema_extra=_schema_extra)


class Storyboard(_Strict):
    """A storyboard script: timed scenes with prompt sequences, music and output settings."""

    version: Literal[1] = Field(1, description="Script format version.")
    title: str = ""
    output: Output = Field(default_factory=Output)
    model: Model = Field(default_factory=Model)
    style: str = Field("", description="Appended to every prompt, after a comma.")
    bpm: float | None = Field(None, ge=MIN_BPM, le=MAX_BPM, description="Tempo for beats and bars when no music "
                              f"track gives one, in beats per minute (from {MIN_BPM} to {MAX_BPM}).")
    meter: str = Field("4/4", pattern=r"^[1-9][0-9]?/(1|2|4|8|16)$", description="Time signature; its numerator is beats per bar.")
    downbeat: Time = Field("0s", validate_default=True, description="Video time of the first downbeat (beat 0) for an explicit bpm.")
    music: list[MusicTrack] = Field(default_factory=list, description="One track or a list; the first gives the beat grid.")
    voice: Voice = Field(default_factory=Voice, description="The narration's voice and how the music ducks under it.")
    subjects: dict[str, Subject] = Field(default_factory=dict, description="Named characters, products and places, "
                                         "each with a description and reference images; scenes cite them by name "
                                         "(letters, digits, _ . -).")
    scenes: list[Scene] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _music_shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("music"), (dict, str)):
            music = data["music"]
            return {**data, "music": [{"path": music} if isinstance(music, str) else music]}
        return data

    @field_validator("bpm", mode="before")
    @classmethod
    def _tempo(cls, value: Any) -> Any:
        return None if value is None else tempo(value)

    @property
    def beats_per_bar(self) -> int:
        return int(self.meter.split("/")[0])

    @staticmethod
    def _schema_extra(schema: dict[str, Any]) -> None:
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = "https://github.com/storyboard-video/storyboard/schemas/storyboard.schema.json"
        music = schema["properties"]["music"]
        schema["properties"]["music"] = {
            "description": music["description"],
            "anyOf": [{"type": "string"}, music["items"], music],
        }
        schema["properties"]["model"] = {"anyOf": [{"type": "string", "minLength": 1}, schema["properties"]["model"]]}

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True, json_schema_extra=_schema_extra)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the script format (what ``storyboard schema`` prints)."""
    return Storyboard.model_json_schema(mode="validation")
