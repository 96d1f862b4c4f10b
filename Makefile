# The two commands of the README's quick start, and the checks CI runs.
.PHONY: up test check install install-dev lock

up: install          ## install Corral and run it on its embedded defaults
	.venv/bin/corral up

test:                ## install what the tests need, then lint, type-check and run every test
	scripts/test.sh

check: install-dev   ## lint and type-check only
	scripts/check.sh

install:
	scripts/install.sh runtime
	scripts/build-web.sh

install-dev:
	scripts/install.sh dev

lock:                ## re-resolve requirements/*.lock after changing pyproject.toml
	scripts/lock.sh
