"""What users write: the YAML/JSON source with locations, the schema, loading and checking, times.

``load_script(path)`` reads, parses and validates a script, raising
:class:`~storyboard.errors.ScriptErrors` located at file, line and column. Nothing
here knows of plans, music analysis, models or encoders.
"""

from storyboard.script.load import Script, load_script, load_script_text

__all__ = ["Script", "load_script", "load_script_text"]
