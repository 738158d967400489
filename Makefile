# fixed-alpr: `make demo` runs the reader end to end; `make test` runs ruff, mypy and pytest.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev
FONTS  := /usr/share/fonts/truetype/opendin/OSP-DIN.ttf /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf
APT    := fonts-dejavu-core fonts-opendin

.PHONY: demo test lint typecheck pytest system-deps clean

# Debian packages the demo and the tests need (plate fonts). Installed only when missing.
system-deps:
	@for f in $(FONTS); do test -f $$f || missing=1; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing $(APT)"; \
	  (apt-get install -y -q $(APT) || (apt-get update -q && apt-get install -y -q $(APT))) >/dev/null; \
	fi

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: system-deps $(STAMP)
	$(VENV)/bin/alpr demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: system-deps $(STAMP)
	$(VENV)/bin/pytest

test: lint typecheck pytest

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
