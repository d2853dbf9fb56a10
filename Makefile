# The developer API: `make compile`, `make test`, `make lint`, `make bench`, `make clean`.
PYTHON ?= python3
PYTEST_ARGS ?=
# Extra flags for bench/e2e.py, e.g. BENCH_ARGS="--servers mod_wsgi granian --rounds 5".
BENCH_ARGS ?=
APT_PACKAGES = apache2 wrk libapache2-mod-wsgi-py3
STAMP := $(shell date +%Y%m%d-%H%M%S)
MICRO_BENCH = $(PYTHON) -m pytest bench --benchmark-only -p no:cacheprovider \
	--benchmark-columns=min,median,mean,stddev,ops,rounds --benchmark-sort=name \
	--benchmark-json=bench/results/micro-$(STAMP).json

.PHONY: compile test test-deps lint bench bench-quick bench-deps clean demo

compile:
	$(PYTHON) setup.py -q build_ext --inplace

# What the tests need: Debian's apache2 (Apache in front of a group), wrk
# (load), then the package itself with its test extras, built in place.
test-deps:
	@if [ "$$(id -u)" = 0 ] && ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(APT_PACKAGES); \
	fi
	$(PYTHON) -m pip install -q -e ".[test]"
	$(PYTHON) setup.py -q build_ext --inplace

# pytest exits 5 when it collected no test: make fails on it like on any failure.
test: test-deps
	$(PYTHON) -m pytest $(PYTEST_ARGS)

lint:
	$(PYTHON) -m ruff check fastwsgi tests setup.py $(wildcard bench)
	cython-lint cext

# Micro-benchmarks (pytest-benchmark), then the end-to-end wrk table against
# the peers; both print a table and write JSON under bench/results/.
bench: compile
	@mkdir -p bench/results
	$(MICRO_BENCH) $(PYTEST_ARGS)
	$(PYTHON) -m bench.e2e $(BENCH_ARGS)

# A smoke run of the same: short micro-benchmarks, 2 s per e2e cell, 2 rounds.
bench-quick: compile
	@mkdir -p bench/results
	$(MICRO_BENCH) --benchmark-max-time=0.1 --benchmark-min-rounds=3 $(PYTEST_ARGS)
	$(PYTHON) -m bench.e2e --quick $(BENCH_ARGS)

# The peers and tools the benchmarks use: wrk, apache2 + mod_wsgi (Debian, as
# root) and the `bench` extra of pyproject.toml (installed by name, so the
# fastwsgi package itself is not reinstalled).
bench-deps:
	@if [ "$$(id -u)" = 0 ] && ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(APT_PACKAGES); \
	fi
	$(PYTHON) -c "import tomllib; print('\\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['bench']))" \
		| xargs $(PYTHON) -m pip install -q

demo:
	$(PYTHON) -m pip install -q . && fastwsgi serve examples/hello.wsgi

clean:
	rm -rf build dist *.egg-info cext/_cext.c fastwsgi/_cext*.so .pytest_cache .hypothesis .benchmarks
	find . -name __pycache__ -prune -exec rm -rf {} +
