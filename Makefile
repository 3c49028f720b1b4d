# Scribe's two entry points: `make demo` (install everything, run a sample visit) and
# `make test` (install what the tests need, run them). .ci/run runs `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SAMPLE ?= samples/cough_visit.wav

.PHONY: install demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install when the dependency list changes; the stamp keeps repeated runs fast.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

# Privacy mode (the default): only the note and its FHIR document leave the visit.
# Then standard mode, with the demo's site data (key, kept visits, audit log) kept in out/.
demo: install
	$(BIN)/scribe transcribe $(SAMPLE) --out out/
	SCRIBE_DATA_DIR=out/site-data $(BIN)/scribe transcribe $(SAMPLE) --out out/standard/ --no-privacy
	@echo "Draft note: out/$(basename $(notdir $(SAMPLE))).note.md; all five outputs: out/standard/"

test: install
	$(BIN)/ruff check scribe privacy tests benchmarks samples
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python benchmarks/pipeline_speed.py
	$(BIN)/python benchmarks/transcription_wer.py
	$(BIN)/python benchmarks/diarization_der.py
	$(BIN)/python benchmarks/aci_bench_notes.py --split valid

clean:
	rm -rf $(VENV) out .pytest_cache
