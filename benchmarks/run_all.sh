#!/usr/bin/env bash
# Rebuild the data sets, then write benchmarks/RESULTS.md, benchmarks/results.png and
# benchmarks/out/results.json. Extra arguments go to compare.py (e.g. --tools lepton,jxl,zstd).
set -euo pipefail
cd "$(dirname "$0")/.."
# The project's virtual environment unless one is active or PYTHON is set.
if [[ -z "${PYTHON:-}" && -z "${VIRTUAL_ENV:-}" && -x .venv/bin/python ]]; then
    PYTHON=.venv/bin/python
fi
PYTHON=${PYTHON:-python}
"$PYTHON" benchmarks/make_datasets.py
d=benchmarks/data
"$PYTHON" benchmarks/compare.py \
    "$d/kodak-q50" "$d/kodak-q75" "$d/kodak-q90" "$d/kodak-q95-444" \
    "$d/kodak-gray-q85" "$d/kodak-progressive-q85" "$d/large" \
    --edge ../shared/corpus/edge \
    --repeat 3 \
    --json benchmarks/out/results.json \
    --markdown benchmarks/RESULTS.md \
    --plot benchmarks/results.png \
    "$@"
