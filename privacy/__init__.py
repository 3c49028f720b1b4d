"""Privacy: what a visit may keep and for how long. Encrypted transient buffers
(``buffer``) under in-memory visit keys (``keys``), the no-retention and no-network
policy (``policy``), the metadata-only audit log (``audit``), standard mode's encrypted
visit store (``store``) and one visit's lifecycle over them (``visit``).

This is Scribe's bottom layer: it imports nothing from ``scribe``; ``scribe`` builds on it.
"""

# The one sample rate of all audio Scribe handles, in samples per second (16 kHz mono:
# what Whisper, Silero VAD and the speaker encoder take). It is defined here, in the bottom
# layer, because privacy's buffers and journals count audio in samples at this rate and
# privacy must not import scribe; scribe.audio re-exports it for everything above.
SAMPLE_RATE = 16_000
