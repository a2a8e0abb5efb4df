# gridmap — two commands on a fresh machine:
#   make demo   set everything up, load the Jinchang demo and serve it on http://127.0.0.1:8000
#   make test   the same set-up (without serving), then the whole test suite
.PHONY: demo test setup bench bench-quick lint help

help:
	@echo "make demo        set up, load the Jinchang demo, serve on http://127.0.0.1:8000"
	@echo "make test        set up, then run the whole test suite"
	@echo "make setup       set up only (Python env, PostGIS, migrations)"
	@echo "make bench       run the benchmark suite and update BENCHMARKS.md"
	@echo "make bench-quick the benchmark suite in under a minute"

demo:
	bash scripts/bootstrap.sh demo

test:
	bash scripts/bootstrap.sh test

setup:
	bash scripts/bootstrap.sh setup

bench:
	bash scripts/bootstrap.sh bench

bench-quick:
	bash scripts/bootstrap.sh bench --quick

lint:
	.venv/bin/ruff check gis api layers maps scripts tests
