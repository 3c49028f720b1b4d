"""Diarization error rate on real meeting speech (ami-debug) and on the sample visits,
at collar 0 and at +/-0.25 s (pyannote.metrics collar=0.5). The diarizer alone, over the
padded speech regions; the RTTM ``scribe transcribe`` writes (turns within the unpadded
speech) is scored by benchmarks/written_rttm_der.py.

    python benchmarks/diarization_der.py
"""

from __future__ import annotations

import json
from pathlib import Path

from scribe.audio import VAD_BACKENDS
from scribe.audio.decode import decode_audio
from scribe.options import ScribeOptions
from scribe.scoring import der, load_rttm, load_uem, shared_data
from scribe.speakers import DIARIZERS, diarize

REPO = Path(__file__).resolve().parent.parent


def corpora() -> list[tuple[str, Path, dict, dict]]:
    ami = shared_data() / "ami-debug"
    sets = []
    if ami.exists():
        sets.append(("ami-debug", ami, load_rttm(ami / "reference.rttm"), load_uem(ami / "reference.uem")))
    samples = {}
    for rttm in sorted((REPO / "samples").glob("*.rttm")):
        samples.update(load_rttm(rttm))
    sets.append(("samples", REPO / "samples", samples, {}))
    return sets


def main() -> None:
    options = ScribeOptions()
    vad = VAD_BACKENDS.create(options.vad_backend, options)
    diarizer = DIARIZERS.create(options.diarizer, options)
    rows = []
    for name, folder, refs, uems in corpora():
        for uri, ref in sorted(refs.items()):
            audio = decode_audio(folder / f"{uri}.wav")
            hyp = diarize(diarizer, audio, vad(audio))
            r0 = der(ref, hyp, uems.get(uri), collar=0.0)
            r5 = der(ref, hyp, uems.get(uri), collar=0.5)
            rows.append({
                "corpus": name, "uri": uri,
                "ref_speakers": len(ref.labels()), "hyp_speakers": len(hyp.labels()),
                "der_collar0": round(r0.der, 4), "der_collar025": round(r5.der, 4),
                "missed": round(r0.missed, 4), "false_alarm": round(r0.false_alarm, 4),
                "confusion": round(r0.confusion, 4),
            })
            r = rows[-1]
            print(f"{name:10} {uri:22} spk {r['ref_speakers']}/{r['hyp_speakers']}  DER {r['der_collar0']:.3f} "
                  f"(miss {r['missed']:.3f} fa {r['false_alarm']:.3f} conf {r['confusion']:.3f})  "
                  f"DER±0.25s {r['der_collar025']:.3f}")
    out = REPO / "benchmarks/results/diarization_der.json"
    out.write_text(json.dumps({"params": options.to_dict()["diarization"], "vad": options.to_dict()["vad"], "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
