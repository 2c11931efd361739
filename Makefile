# The two commands a new user needs: `make run` and `make test`. Both set up .venv first.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.mrig-installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
DATA   ?= data

.PHONY: run test bench lint install clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	# picamera2's source for tests/test_picamera2_contract.py (importing it needs libcamera, a Pi).
	$(PY) -m pip install -q --no-deps picamera2==0.3.38
	touch $@

run: $(STAMP)
	$(VENV)/bin/mrig serve --camera mock --host $(HOST) --port $(PORT) --data-dir $(DATA)

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) -m tests.bench

lint: $(STAMP)
	$(VENV)/bin/ruff check .

install:
	sudo systemd/install.sh

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .ruff_cache *.egg-info
