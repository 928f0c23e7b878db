#!/bin/sh
# git's clean filter for notebooks (.gitconfig): the first Python 3 on PATH runs .ci/nbclean.py --filter,
# which needs only the standard library (python3 on Linux and macOS; python or the py launcher on Windows,
# where git brings its own sh). No Python 3 at all: exit 1, and git, the filter being required, stops
# instead of staging the notebook with its outputs.
for py in python3 python py; do
    if "$py" -c "import sys; sys.exit(sys.version_info[0] != 3)" </dev/null >/dev/null 2>&1; then
        exec "$py" .ci/nbclean.py --filter
    fi
done
echo "nbclean: no Python 3 on PATH (python3, python or py): activate the course's environment, then git add again" >&2
exit 1
