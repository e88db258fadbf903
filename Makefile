# The two commands a user needs are `scripts/make demo` and `scripts/make test` (see README).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
IMAGE := ipgeo-base:bookworm
HOST_IMAGE := ipgeo-host:bookworm
DEMO_URL := http://127.0.0.1:8080
DEMO_HTTPS_URL := https://127.0.0.1:8443
# The demo's throwaway CA and the LB's certificate (scripts/demo-tls-ca.sh; made once, git-ignored).
DEMO_TLS := build/demo-tls
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export ANSIBLE_FORCE_COLOR := $(if $(CI),0,1)

.PHONY: help host venv db image promtool demo demo-destroy lint unit molecule molecule-clean molecule-ops molecule-ha host-image test bench

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

host: ## Install host packages (docker.io, debootstrap, python3-venv) and start dockerd
	@scripts/host-deps.sh

# requirements/bench.txt (matplotlib): the bench draws with it, and tests/bench checks the drawing.
venv: $(VENV)/.stamp ## Create the controller's venv (Ansible, Molecule, linters, the app for tests)
$(VENV)/.stamp: requirements/controller.txt $(wildcard requirements/slb.txt) requirements/bench.txt app/pyproject.toml | host
	python3 -m venv $(VENV)
	$(BIN)/pip install -q -r requirements/controller.txt 2>&1 | { grep -v '^WARNING: Location' || true; }
	if [ -f requirements/slb.txt ]; then $(BIN)/pip install -q -r requirements/slb.txt 2>&1 | { grep -v '^WARNING: Location' || true; }; fi
	$(BIN)/pip install -q -e './app[test]' 2>&1 | { grep -v '^WARNING: Location' || true; }
	$(BIN)/pip install -q -r requirements/bench.txt 2>&1 | { grep -v '^WARNING: Location' || true; }
	touch $@

db: files/GeoLite2-City.mmdb ## Fetch the GeoLite2-City database (checked by SHA-256)
files/GeoLite2-City.mmdb: | $(VENV)/.stamp
	scripts/fetch-db.sh $(BIN)/pip

image: host ## Build the containers' base image from debootstrap (once)
	scripts/base-image.sh $(IMAGE)

host-image: image ## Build the ops scenario's image: the base image plus systemd as PID 1, sshd, a deploy user (once)
	scripts/host-image.sh $(HOST_IMAGE)

demo: host venv db image ## Provision the local demo fleet and look an IP up through its LB
	ansible-playbook -i inventories/local/hosts.yml playbooks/demo_fleet.yml
	@test -s $(DEMO_TLS)/lb.key || scripts/demo-tls-ca.sh $(DEMO_TLS)
	ansible-playbook -i inventories/local/hosts.yml site.yml
	@echo; echo "Lookup through the demo load balancer ($(DEMO_URL)):"
	@curl -sS -D /dev/stderr $(DEMO_URL)/v1/ip/114.114.114.114?lang=zh-CN 2> >(grep -i '^x-served-by' >&2) \
	  | python3 -m json.tool --no-ensure-ascii
	@echo; echo "The same over HTTPS ($(DEMO_HTTPS_URL)), trusting the demo's throwaway CA $(CURDIR)/$(DEMO_TLS)/ca.crt:"
	@echo "  curl --cacert $(CURDIR)/$(DEMO_TLS)/ca.crt '$(DEMO_HTTPS_URL)/v1/ip/114.114.114.114?lang=zh-CN'"
	@curl -sS --fail --cacert $(DEMO_TLS)/ca.crt '$(DEMO_HTTPS_URL)/v1/ip/114.114.114.114?lang=zh-CN' \
	  | python3 -m json.tool --no-ensure-ascii

demo-destroy: venv ## Remove the demo fleet's containers and network
	ansible-playbook -i inventories/local/hosts.yml playbooks/demo_fleet.yml -e demo_fleet_state=absent

lint: venv ## yamllint, ansible-lint (production profile, offline), ruff
	yamllint --strict .
	ansible-lint --offline --profile production
	ruff check .
	ruff format --check .

# promtool (Debian's prometheus package, unpacked, not installed) for tests/monitoring.
promtool: build/tools/promtool ## Fetch promtool for the alert rules' and dashboard's tests
build/tools/promtool:
	scripts/promtool-deps.sh

unit: venv db promtool ## pytest: the app, the helpers, the alert rules and dashboard
	time pytest -q -n 2 --dist loadfile

molecule-clean: host ## Remove leftovers of an interrupted Molecule run (by label and network name)
	@for fleet in molecule molecule-slb ops ha; do \
	  docker ps -aq --filter label=ipgeo.fleet=$$fleet | xargs -r docker rm -f >/dev/null; done
	@for net in ipgeo-molecule ipgeo-molecule-slb ipgeo-ops ipgeo-ha; do \
	  docker network ls -q --filter name=^$$net$$ | xargs -r docker network rm >/dev/null; done

# `time` before each run: CI's log shows what each scenario costs (the budget is 60 minutes).
molecule: venv db image host-image molecule-clean ## Molecule: nginx LB and monitoring, SLB test double, operations under load on systemd hosts over SSH
	time molecule test --scenario-name default
	time molecule test --scenario-name slb
	time molecule test --scenario-name ops

molecule-ops: venv db host-image molecule-clean ## Molecule ops only: systemd hosts over SSH with the firewall, a reboot, rolling upgrade, DB updates, node failures under load
	molecule test --scenario-name ops

molecule-ha: venv db image molecule-clean ## Molecule ha (not yet in test: some goals of issue 10 unmet): frozen nodes, overload, an LB pair's VIP
	molecule test --scenario-name ha

test: lint unit molecule ## Everything CI runs

bench: venv db ## Benchmarks: prints one table, writes bench/out/results.md and bench/out/bench.png
	@scripts/bench-deps.sh
	python -m bench
