"""What an MP3 file itself says about its length: its frames' own headers, and the
Xing/Info/VBRI tag an encoder may put in its first frame.

FFmpeg reports a duration for every MP3, but without a length tag that duration is an
estimate from the first frame's bitrate and the file's size: wrong for any VBR file (a
``lame -V6 -t`` recording of 79.4 s is "98.6 s") and blind to truncation (half a file
estimates half the length). So the decoder (``scribe.audio.decode``) judges an MP3 by
these instead: a length tag is an exact frame count, and every frame's header gives the
frame's size in bytes, so a file cut mid-frame shows as a last frame shorter than its
header says. Tables: ISO/IEC 11172-3 (MPEG-1) and 13818-3 (MPEG-2, with MPEG-2.5's
sample rates).
"""

from __future__ import annotations

import os

# kbit/s by bitrate index 1-14 (0 is free format, 15 invalid); key (mpeg1, layer).
_BITRATES = {
    (True, 1): (32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
# Hz by sample-rate index 0-2; key: the header's version bits (3 MPEG-1, 2 MPEG-2, 0 MPEG-2.5).
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
# An ID3v2 tag before the first frame is skipped up to this size; a longer one (cover
# art) is read only as far as needed (the tag's own header gives its length).
_HEAD_READ = 8192


def frame_length(header: bytes) -> int | None:
    """Bytes in the MPEG audio frame that starts with ``header`` (at least 4 bytes), or
    None when it is not a frame header or does not say (free-format bitrate)."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    version, layer_bits = (header[1] >> 3) & 3, (header[1] >> 1) & 3
    index, rate_index, padding = header[2] >> 4, (header[2] >> 2) & 3, (header[2] >> 1) & 1
    if version == 1 or layer_bits == 0 or index in (0, 15) or rate_index == 3:
        return None
    layer = 4 - layer_bits  # bits 3, 2, 1 are layers I, II, III
    mpeg1 = version == 3
    bitrate = _BITRATES[(mpeg1, layer)][index - 1] * 1000
    rate = _RATES[version][rate_index]
    if layer == 1:
        return (12 * bitrate // rate + padding) * 4
    if layer == 3 and not mpeg1:
        return 72 * bitrate // rate + padding  # 576 samples a frame, not 1152
    return 144 * bitrate // rate + padding


def has_length_tag(path: str | os.PathLike) -> bool:
    """Whether the file's first frame is a Xing, Info or VBRI tag: the encoder's count of
    the frames it wrote, so the duration FFmpeg reports from it is exact."""
    with open(path, "rb") as f:
        head = f.read(10)
        start = 0
        if head[:3] == b"ID3" and len(head) == 10:
            size = 0
            for b in head[6:10]:  # "syncsafe": 7 bits a byte
                size = size << 7 | (b & 0x7F)
            start = 10 + size + (10 if head[5] & 0x10 else 0)  # + footer
        f.seek(start)
        frame = f.read(_HEAD_READ)
    # The first frame header may follow padding; find it within the bytes read.
    for at in range(len(frame) - 3):
        length = frame_length(frame[at : at + 4])
        if length:
            body = frame[at : at + length]
            return b"Xing" in body or b"Info" in body or b"VBRI" in body
    return False
