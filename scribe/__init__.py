"""Scribe: a local-first ambient clinical scribe."""

import os as _os

# Nothing may phone home: no model-hub look-ups, no pyannote telemetry. Set before any
# pyannote / huggingface module is imported; a site can still override deliberately.
_os.environ.setdefault("HF_HUB_OFFLINE", "1")
_os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
_os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")

__version__ = "0.1.0"
