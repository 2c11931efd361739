# The two commands a new user needs: `make run` and `make test`. Both set up .venv first.
VENV   := .venv
PY     := $(VENV)/bin/python
RUN_STAMP  := $(VENV)/.mrig-runtime
TEST_STAMP := $(VENV)/.mrig-test-tools
PICAMERA2  := picamera2==0.3.38
HOST   ?= 127.0.0.1
PORT   ?= 8000
DATA   ?= data

.PHONY: run test bench lint install clean

# The runtime: the app, and picamera2 (the version Raspberry Pi OS ships) with only what its
# import needs, to run over the virtual libcamera (see pyproject.toml's "virtual" extra).
$(RUN_STAMP): pyproject.toml setup.py isp/kernels.c
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[virtual]'
	$(PY) -m pip install -q --no-deps $(PICAMERA2)
	touch $@

# The test tools on top.
$(TEST_STAMP): $(RUN_STAMP)
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

run: $(RUN_STAMP)
	$(VENV)/bin/mrig serve --camera virtual --host $(HOST) --port $(PORT) --data-dir $(DATA)

test: $(TEST_STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

bench: $(TEST_STAMP)
	$(PY) -m tests.bench

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check .

install:
	sudo systemd/install.sh

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .ruff_cache *.egg-info build isp/_kernels*.so
