"""Signal conditioning: the same speech gives the same signal whatever the recorder's DC
offset or channel layout, before voice activity detection, recognition and speaker
embeddings see it; a recording's gain reaches them as it is (no level stage: below).

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
- **No level stage**: the recording keeps its level for every model. 87af20c gave VAD
  and the speaker embeddings one gain per recording (its 99th-percentile 32 ms frame RMS
  brought to 0.16); measured, it helped nothing (``benchmarks/signal_conditioning.py``,
  "level_stage" in its results, after the 20 Hz high-pass). The embeddings are
  level-invariant (DER identical at every gain on all 11 ami-debug clips), so a gain
  acts through silero VAD only, and there ami-debug trn mean DER was 0.414 at gain 1,
  0.453 at 0.16 (trn01 0.83 -> 1.0, no speech found; trn02 0.12 -> 0.27) and 0.430 at
  0.05. Raise-only bands (to 0.03-0.08, at most 1.5-3x) gave trn 0.411-0.429: the best
  0.002 under gain 1 from clips moving both ways (trn05 0.217 -> 0.201, trn08 0.558 ->
  0.560), while dev went 0.223 -> 0.300 (dev01 0.206 -> 0.325 at x1.5): silero's
  response to level is not one a threshold tuned on nine 30 s clips can follow. On the
  cough sample at x0.1 the level stage moved the transcript further from the clean
  one (WER 0.035 before conditioning, 0.044 with it, 0.034 without it).
- **Channels** (``downmix``, used by ``scribe.audio.decode``): an average that cannot
  cancel: a channel in opposite phase to the loudest is inverted before averaging.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, sosfilt, sosfilt_zi

from privacy import SAMPLE_RATE

# Below every voice's fundamental (adult male from ~85 Hz): a 2nd-order high-pass at
# 40 Hz takes 0.2 dB off 85 Hz and settles a DC step in ~10 ms (a constant offset has no
# step: see ``Conditioner``). Measured on ami-debug trn (DER, VAD and embeddings on the
# filtered audio): 0.418 unfiltered, 0.419 at 40 Hz, 0.414 at 20 Hz, 0.452 at 80 Hz; the
# samples' WER 0.0669 at 20 and 40 Hz, 0.0682 at 80 (0.0649 unfiltered: Whisper turns on
# any change to its input). 40, not 20: at 20 Hz Whisper tiny.en, hearing a clinician
# coach "breathe in, breathe out" six times, wrote the loop over the "three, two, one"
# and the patient's question after it (seven pairs, their words lost;
# tests/test_repetitions.py), and at 40 Hz it writes what was said; the 0.005 of trn DER
# is within one clip's noise (trn05 0.231 -> 0.274, others equal or better). The
# committed benchmarks/results/signal_conditioning.json was measured at 20 Hz.
HIGH_PASS_HZ = 40.0

# Correlation below which a channel counts as inverted. Averaging two equal channels at
# correlation -0.3 keeps 70% of their power (-1.5 dB): no cancellation worth undoing, and
# unrelated channels (near 0) never flip back and forth.
_OPPOSED = -0.3

_SOS = butter(2, HIGH_PASS_HZ, btype="highpass", fs=SAMPLE_RATE, output="sos")


class Conditioner:
    """High-pass for one stream of (n,) float32 audio at 16 kHz.

    ``__call__(samples)`` conditions ``samples`` in place and returns them; successive
    calls continue the same stream, and any chunk sizes give the same result. Temporary
    arrays are zeroed before they are dropped (the audio is visit content).
    """

    def __init__(self) -> None:
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
        samples[:] = y
        y.fill(0.0)
        return samples


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
