# Agora — one Makefile for a fresh Debian machine and for CI.
#   make install   .venv/ with every service, test and bench dependency (+ system packages when absent)
#   make run       the whole platform with a demo city on the embedded store (SecantusDB); ARGS="--fresh"
#   make test      the whole suite over real RabbitMQ and SecantusDB
#   make bench     every benchmark in --quick mode (results in bench/results/*.json)
#   make chaos     kill -9 each part of the platform under load, then prove from the log that nothing was lost
#   make lint      ruff
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/pip
# the one list of services: deploy/services.json (also read by the image build, the KEDA sync, the launcher and e2e)
SERVICE_FOLDERS := $(shell $(PYTHON) -c 'import json; print(" ".join(s["folder"] for s in json.load(open("deploy/services.json"))["services"]))')
PACKAGES := -e shared $(foreach f,$(SERVICE_FOLDERS),-e '$(f)[test]')
APT_PACKAGES := rabbitmq-server prometheus chromium chromium-driver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install system-deps rabbitmq run test test-backbone chaos bench lint images clean help

help:
	@sed -n '2,7p' Makefile

install: system-deps $(VENV)/.installed

$(VENV)/.installed: shared/pyproject.toml services/*/pyproject.toml requirements-dev.txt deploy/services.json
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(PACKAGES) -r requirements-dev.txt
	touch $@

# Debian packages: RabbitMQ, promtool (prometheus), Chromium + driver for the dashboard test. Installed only when a
# command is missing, so a prepared machine does not touch apt.
system-deps:
	@missing=""; \
	command -v rabbitmq-server >/dev/null 2>&1 || [ -x /usr/sbin/rabbitmq-server ] || missing="$$missing rabbitmq-server"; \
	command -v promtool >/dev/null 2>&1 || missing="$$missing prometheus"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null 2>&1 || missing="$$missing chromium-driver"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi

rabbitmq:
	@$(BIN)/python deploy/local/ensure_rabbitmq.py

# make run ARGS="--fresh --base-port 9001"   (python deploy/local/run.py --help lists the options)
run: install rabbitmq
	exec $(BIN)/python deploy/local/run.py $(ARGS)

test: install rabbitmq
	$(BIN)/pytest -q tests services

test-backbone: install rabbitmq
	$(BIN)/pytest -q tests/backbone

# kill -9 every part of the platform in turn under load; proves from the log: nothing lost or duplicated,
# rebuilt == live (bench/chaos.py; results in bench/results/chaos.json; tests/chaos runs its --short variant)
chaos: install rabbitmq
	$(BIN)/python bench/chaos.py $(ARGS)

bench: install rabbitmq
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b --quick || exit 1; done

lint: install
	$(BIN)/ruff check shared services bench tests deploy

images:
	bash deploy/k8s/build-images.sh

clean:
	rm -rf $(VENV) .run test-artifacts
