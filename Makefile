# fixed-alpr: `make demo` runs the gateway end to end; `make test` runs ruff, mypy and pytest.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev
FONTS  := /usr/share/fonts/truetype/opendin/OSP-DIN.ttf /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf
APT    := fonts-dejavu-core fonts-opendin
CEPH   := radosgw ceph-mon ceph-osd ceph-common
MQTT   := mosquitto
BROWSER := chromium
CC_PKGS := gcc libc6-dev

.PHONY: demo test lint typecheck pytest fonts ceph mosquitto java chromium cc clean

# Debian packages, installed only when missing: plate fonts (demo and tests), Ceph for the real
# S3 server that the tests start with tools/s3-local, and the mosquitto MQTT broker for the alert
# channel tests, and chromium for the console's browser tests (Playwright drives it headless).
apt = apt-get install -y -q --no-install-recommends $(1) >/dev/null || \
      (apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $(1) >/dev/null)

fonts:
	@for f in $(FONTS); do test -f $$f || missing=1; done; \
	if [ -n "$$missing" ]; then echo "installing $(APT)"; $(call apt,$(APT)); fi

ceph:
	@command -v radosgw >/dev/null || { echo "installing $(CEPH)"; $(call apt,$(CEPH)); }

mosquitto:
	@PATH="$$PATH:/usr/sbin" command -v mosquitto >/dev/null || { echo "installing $(MQTT)"; $(call apt,$(MQTT)); }

# Java for the Spark test, which runs the search over the same Parquet files as DuckDB (Debian 12
# ships OpenJDK 17, Debian 13 OpenJDK 21: pyspark 4 runs on either).
java:
	@command -v java >/dev/null || { echo "installing a Java runtime"; \
	  $(call apt,openjdk-17-jre-headless) || $(call apt,openjdk-21-jre-headless); }

chromium:
	@test -x /usr/bin/chromium || { echo "installing $(BROWSER)"; $(call apt,$(BROWSER)); }

# a C compiler for the power-cut fault row, which builds its file layer (tools/faults/powercut/shim.c)
cc:
	@command -v cc >/dev/null || { echo "installing $(CC_PKGS)"; $(call apt,$(CC_PKGS)); }

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: fonts $(STAMP)
	$(VENV)/bin/alpr demo --console

lint: $(STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# the emulated camera board (hwtest/): MicroPython's WebAssembly port from npm, pinned by its lock
NODE_DEPS := hwtest/emulator/node_modules/.package-lock.json
$(NODE_DEPS): hwtest/emulator/package.json hwtest/emulator/package-lock.json
	npm ci --prefix hwtest/emulator --no-audit --no-fund

node-deps: $(NODE_DEPS)

# Two workers, each test file kept on one: most of the suite waits on RGW lifecycle passes, the
# emulated board and subprocesses, so two halve the time even on 2 cores. A worker whose files
# need S3 starts its own RGW (tools/s3-local gives each a free port), so a test that stops one
# never disturbs the other's. PYTEST_WORKERS=0 runs everything in one process, as it does with
# a real board on HWTEST_PORT (one serial port cannot serve two workers).
PYTEST_WORKERS ?= $(if $(HWTEST_PORT),0,2)
pytest: fonts ceph mosquitto java chromium cc $(STAMP) node-deps
	$(VENV)/bin/pytest $(if $(filter 0,$(PYTEST_WORKERS)),-p no:xdist,-n $(PYTEST_WORKERS) --dist loadfile)

test: lint typecheck pytest

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
