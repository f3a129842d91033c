#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine, check the code, then run the suite.
# Usage: scripts/test.sh [pytest args...]
# Gates, each failing the run: ruff check, ruff format --check, mypy (engine/, tui/), the import contracts
# (lint-imports), then pytest. Every daemon the tests start is stopped by the fixtures; a last sweep makes sure
# none outlives the run, even when pytest itself is killed.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-system-packages.sh

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test,gpu]"

gate() {  # gate NAME COMMAND...: run one check; stop the run with NAME when it fails
    local name=$1
    shift
    if ! "$@"; then
        echo "gate failed: $name ($*)" >&2
        exit 1
    fi
}
gate "ruff check" .venv/bin/ruff check engine tui tests bench
gate "ruff format" .venv/bin/ruff format --check -q engine tui tests bench
gate "mypy" .venv/bin/mypy
gate "import contracts" .venv/bin/lint-imports --no-cache

sweep_leftovers() { .venv/bin/python -m tests.fixtures.leftovers || true; }
trap sweep_leftovers EXIT
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure" >&2
    exit 1
fi
exit "$rc"
