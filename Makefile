# Scribe's two entry points: `make demo` (install everything, run a sample visit) and
# `make test` (install what the tests need, run them). .ci/run runs `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SAMPLE ?= samples/cough_visit.wav

# What the recorder, `scribe record` and their tests need from the system: a real
# browser, a sound server with a virtual microphone, PortAudio and its ALSA->pulse bridge;
# lame encodes the MP3s people record (tests/test_mp3_length.py); flite speaks the
# coaching recording of tests/test_repetitions.py; flite and espeak-ng speak the synthetic
# 1-, 2- and 3-voice visits of tests/voice_visits.py (tests/test_speaker_count.py);
# festival with its two Italian voices (festvox-italp16k female, festvox-itapc16k male)
# speaks the Italian turns of the mixed-language visits of tests/language_visits.py
# (espeak-ng speaks their Spanish: the archive has no festival Spanish voice).
SYSTEM_PACKAGES := chromium pulseaudio pulseaudio-utils libportaudio2 libasound2-plugins lame flite espeak-ng \
	festival festvox-italp16k festvox-itapc16k
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

FHIR_SERVER := tests/fhir_server
# axe-core, the accessibility audit the recorder's browser test runs (tests/test_recorder_review.py).
AXE := tests/axe

.PHONY: install system-deps fhir-server axe pyannote-venv demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install when the dependency list changes; the stamp keeps repeated runs fast.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,ray]"
	touch $@

install: $(VENV)/.installed

# Installs only what is missing, so a second run costs nothing.
system-deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:" $$missing; \
		$(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

# The tests' FHIR server: Medplum's engine from npm, with its own Node 22 (npm package
# node@22). Re-installed when its package.json changes.
$(FHIR_SERVER)/node_modules/.installed: $(FHIR_SERVER)/package.json
	@command -v npm >/dev/null || { $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm; }
	cd $(FHIR_SERVER) && npm install --no-audit --no-fund --loglevel=error
	touch $@

fhir-server: $(FHIR_SERVER)/node_modules/.installed

# axe-core from npm, installed as the FHIR server's packages are (its package.json pins
# node@22 too). Re-installed when its package.json changes.
$(AXE)/node_modules/.installed: $(AXE)/package.json
	@command -v npm >/dev/null || { $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm; }
	cd $(AXE) && npm install --no-audit --no-fund --loglevel=error
	touch $@

axe: $(AXE)/node_modules/.installed

# Privacy mode (the default): only the note and its FHIR document leave the visit.
# Then standard mode, with the demo's site data (key, kept visits, audit log) kept in out/.
demo: install system-deps
	$(BIN)/scribe transcribe $(SAMPLE) --out out/
	SCRIBE_DATA_DIR=out/site-data $(BIN)/scribe transcribe $(SAMPLE) --out out/standard/ --no-privacy
	@echo "Draft note: out/$(basename $(notdir $(SAMPLE))).note.md; all five outputs: out/standard/"
	@echo "Live recorder: $(BIN)/scribe serve   (then open the URL it prints)"

# The pyannote diarizer's own environment: a venv that sees .venv's packages (a .pth to
# its site-packages, so torch stays the one CPU build; no pip or setuptools of its own,
# .venv's pip installs into it) plus the scribe[pyannote] extra,
# with torch pinned to what .venv has so pip never swaps it for a CUDA build. Kept apart
# because the extra's torchaudio (a CUDA build: there is no CPU torchaudio for this torch
# on PyPI) makes transformers' audio imports fail, which the audio-llm drafter needs.
PYANNOTE_VENV := .venv-pyannote
$(PYANNOTE_VENV)/.installed: pyproject.toml $(VENV)/.installed
	rm -rf $(PYANNOTE_VENV)
	$(BIN)/python -m venv --without-pip $(PYANNOTE_VENV)
	$(BIN)/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" > "$$($(PYANNOTE_VENV)/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/scribe-main-venv.pth"
	$(BIN)/python -c "import torch; print('torch==' + torch.__version__)" > $(PYANNOTE_VENV)/constraints.txt
	$(BIN)/python -m pip --python $(PYANNOTE_VENV)/bin/python install --quiet --constraint $(PYANNOTE_VENV)/constraints.txt "pyannote.audio>=4.0,<5"
	touch $@

pyannote-venv: $(PYANNOTE_VENV)/.installed

test: install system-deps fhir-server axe pyannote-venv
	$(BIN)/ruff check scribe privacy tests benchmarks samples
	$(BIN)/python -m pytest
	SCRIBE_REQUIRE_PYANNOTE=1 $(PYANNOTE_VENV)/bin/python -m pytest -q tests/test_pyannote_diarizer.py

bench: install
	$(BIN)/python benchmarks/pipeline_speed.py
	$(BIN)/python benchmarks/transcription_wer.py
	$(BIN)/python benchmarks/diarization_der.py
	$(BIN)/python benchmarks/aci_bench_notes.py --split valid

clean:
	rm -rf $(VENV) $(PYANNOTE_VENV) out .pytest_cache test-artifacts $(FHIR_SERVER)/node_modules $(AXE)/node_modules
