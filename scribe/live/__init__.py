"""Live visits: audio arriving as it is spoken, transcribed as it goes.

``streaming`` turns 16 kHz mono PCM16 frames into committed transcript lines
(``StreamingSession``) through the pipeline's injected components (the VAD's stream, the
speech model, a diarizer session); at stop it finishes the visit as batch does.
``visit`` is one visit recorded from the capture service's recorder (``LiveVisit``: pause,
swap roles, stop, sign, export), answering with the typed events of ``events``.
``microphone`` records from this machine's microphone for ``scribe record``. There is no
backend here: new speech, VAD or diarizer backends plug into their own packages' seams
and streaming uses them unchanged.
"""
