"""Speech recognition: audio (with a hint of where the speech is) to timed text.

The seam is ``SpeechModel.transcribe(audio, speech=None, offset=0.0, language=None) ->
Recognition``; backends are listed in ``SPEECH_MODELS`` and chosen by
``ScribeOptions.speech`` (``--speech``). The default is Whisper through faster-whisper
(``whisper.py``). A new speech backend (an audio-language model, another engine) is one
module here implementing the protocol, plus one entry in ``SPEECH_MODELS``
(``scribe/speech/base.py``). Importing this package loads no model.
"""

from scribe.speech.base import SPEECH_MODELS, Recognition, SpeechModel

__all__ = ["SPEECH_MODELS", "Recognition", "SpeechModel"]
