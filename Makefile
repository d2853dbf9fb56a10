# The developer API: `make compile`, `make test`, `make lint`, `make bench`, `make clean`.
PYTHON ?= python3
PYTEST_ARGS ?=
APT_PACKAGES = apache2 wrk libapache2-mod-wsgi-py3

.PHONY: compile test test-deps lint bench clean demo

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

bench: compile
	$(PYTHON) -m pytest bench --benchmark-only -p no:cacheprovider $(PYTEST_ARGS)

demo:
	$(PYTHON) -m pip install -q . && fastwsgi serve examples/hello.wsgi --uwsgi-socket /tmp/fastwsgi-hello.sock

clean:
	rm -rf build dist *.egg-info cext/_cext.c fastwsgi/_cext*.so .pytest_cache .hypothesis .benchmarks
	find . -name __pycache__ -prune -exec rm -rf {} +
