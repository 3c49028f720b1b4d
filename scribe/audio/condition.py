"""Signal conditioning: the same speech gives the same signal whatever the recorder's DC
offset, gain or channel layout, before voice activity detection, recognition and
speaker embeddings see it.

Without it the models saw a different input for the same speech: the cough sample with
+0.3 added to every sample gave 24 transcript lines instead of 18, with speakers
flipping mid-turn; a stereo file whose second channel is the first inverted decoded to
silence (no lines at all); at gain x0.1 or x3 words changed. (Some words still change
with the level of a 16-bit file: Whisper's beam search turns on differences of one
quantisation step, which no conditioning can give back; see
``benchmarks/results/signal_conditioning.json``.)

- **DC and rumble** (``Conditioner``): a 2nd-order Butterworth high-pass at
  ``HIGH_PASS_HZ``, causal, its state carried from call to call, so a recording decoded
  in blocks (batch) and the same audio fed in 100 ms frames (live) are filtered alike.
- **Level** (``measure_level``, ``gain_for``): one gain for the whole recording, from
  its loud speech frames (a percentile of the high-passed 32 ms frames' RMS), for voice
  activity detection and the speaker embeddings. The statistic scales with the input,
  so a recording at any gain gives them the same samples, and one constant gain
  distorts nothing. The speech model keeps the recording's level (given the leveled
  copy its word error rate rose: cough_visit 0.054 -> 0.074, aci_d2n_visit 0.089 ->
  0.103). Batch only: a live visit's
  level is not known before it is over (live: ``Conditioner()``, DC only).
- **Channels** (``downmix``, used by ``scribe.audio.decode``): an average that cannot
  cancel: a channel in opposite phase to the loudest is inverted before averaging.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from scipy.signal import butter, sosfilt, sosfilt_zi

from privacy import SAMPLE_RATE

# Below every voice's fundamental (adult male from ~85 Hz): a 2nd-order high-pass at
# 40 Hz takes 0.2 dB off 85 Hz and settles a DC step in ~10 ms.
HIGH_PASS_HZ = 40.0
FRAME = 512  # samples (32 ms): silero's window, the level's unit
# The level is this percentile of the frames' RMS: the loud part of the speech, above a
# click or a cough (a few frames: under 1% of any visit with speech in it).
LEVEL_PERCENTILE = 99.0
# The three sample visits' level (99th-percentile frame RMS) is 0.162-0.166 (peaks
# 0.54-0.58), one Whisper and silero handle well, so the samples pass almost unchanged
# (gain 0.97-0.99); AMI's meeting mixes (ami-debug: 0.011-0.060) are raised to it
# (gain 2.7-14.4).
TARGET_LEVEL = 0.16
# Never raise by more than 30 dB: a recording whose loud frames are under
# 0.16 / 31.6 = 0.005 RMS (-46 dBFS) is near silence, not quiet speech; its hiss stays
# below speech level. (The samples at x0.1 need 9.7; AMI's quietest, trn02, 14.4.)
MAX_GAIN = 31.6

# Correlation below which a channel counts as inverted. Averaging two equal channels at
# correlation -0.3 keeps 70% of their power (-1.5 dB): no cancellation worth undoing, and
# unrelated channels (near 0) never flip back and forth.
_OPPOSED = -0.3

_SOS = butter(2, HIGH_PASS_HZ, btype="highpass", fs=SAMPLE_RATE, output="sos")


class Conditioner:
    """High-pass and gain for one stream of (n,) float32 audio at 16 kHz.

    ``__call__(samples)`` conditions ``samples`` in place (high-pass, then ``gain``) and
    returns them; successive calls continue the same stream, and any chunk sizes give
    the same result. Temporary arrays are zeroed before they are dropped (the audio is
    visit content).
    """

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = float(gain)
        self._zi: np.ndarray | None = None
        self._origin = 0.0

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        if samples.size == 0:
            return samples
        if self._zi is None:
            # The stream's first value is taken off every sample and the filter starts
            # at rest: the same as starting it in the steady state of that value (its
            # DC gain is 0), so a constant offset goes from the first sample on with no
            # step response. Subtracted first, a constant offset on 16-bit samples
            # cancels exactly (small multiples of 2^-15 are exact in float64), and the
            # filter sees the very same numbers: Whisper's int8 arithmetic turned a
            # 1e-9 difference into another word ("I'm" / "I am").
            self._origin = float(samples[0])
            self._zi = sosfilt_zi(_SOS) * 0.0
        x = samples.astype(np.float64)
        x -= self._origin
        y, self._zi = sosfilt(_SOS, x, zi=self._zi)
        x.fill(0.0)
        y *= self.gain
        samples[:] = y
        y.fill(0.0)
        return samples


def measure_level(blocks: Iterable[np.ndarray]) -> float:
    """The recording's speech level: the ``LEVEL_PERCENTILE`` of its high-passed 32 ms
    frames' RMS (frames of silence left out), over consecutive (n,) float32
    blocks at 16 kHz. Each block is zeroed once measured. 0.0 for silence."""
    hp = Conditioner()
    rms: list[np.ndarray] = []
    rest = np.zeros(0, dtype=np.float32)
    for block in blocks:
        y = np.concatenate([rest, hp(block)])
        block.fill(0.0)
        rest.fill(0.0)
        whole = y.size // FRAME * FRAME
        if whole:
            rms.append(np.sqrt(np.mean(y[:whole].reshape(-1, FRAME).astype(np.float64) ** 2, axis=1)))
        rest = y[whole:].copy()
        y.fill(0.0)
    rest.fill(0.0)
    levels = np.concatenate(rms) if rms else np.zeros(0)
    # Silence left out relative to the loudest frame (80 dB under it), not by an absolute
    # floor: a filter's decaying tail reaches zero sooner in a quieter copy, and an
    # absolute test would count frames differently at another gain.
    levels = levels[levels > levels.max(initial=0.0) * 1e-4]
    return float(np.percentile(levels, LEVEL_PERCENTILE)) if levels.size else 0.0


def gain_for(level: float) -> float:
    """The gain that brings ``level`` (``measure_level``) to ``TARGET_LEVEL``, at most
    ``MAX_GAIN``; 1.0 for silence."""
    return min(TARGET_LEVEL / level, MAX_GAIN) if level > 0 else 1.0


def downmix(channels: np.ndarray, state: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Average (channels, n) float32 audio to (n,) without cancelling.

    A plain average of a stereo pair whose channels are in opposite phase (a balanced
    cable wired backwards, L = -R) is silence. Here a channel whose correlation with the
    loudest channel, accumulated from the start of the recording (``state``: pass back
    what the previous call returned; None at the start), is below ``_OPPOSED`` is
    inverted first, so the choice settles in the first speech and holds; channels in
    phase, or unrelated (two microphones: correlation near 0), are averaged as they are.

    Returns
    -------
    (mono, state) : (n,) float32 and the accumulated statistics for the next call.
    """
    if channels.shape[0] == 1:
        return channels[0].astype(np.float32, copy=True), np.zeros((1, 1))
    x = channels.astype(np.float64)
    gram = x @ x.T  # energies on the diagonal, zero-lag correlations off it
    state = gram if state is None else state + gram
    x.fill(0.0)
    energy = np.diag(state)
    loudest = int(np.argmax(energy))
    corr = state[loudest] / np.sqrt(np.maximum(energy * energy[loudest], 1e-30))
    signs = np.where(corr < _OPPOSED, -1.0, 1.0).astype(np.float32)
    mono = (signs[:, None] * channels).mean(axis=0).astype(np.float32)
    return mono, state
