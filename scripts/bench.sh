#!/usr/bin/env bash
# Set up (venv + colcon build, see bootstrap.sh), then run the bench (bench/run_bench.py):
# prints one Markdown table. Extra arguments go to run_bench.py, e.g. `--only idle`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# shellcheck disable=SC1091
. .venv/bin/activate
set +u  # colcon's setup scripts read unset variables
# shellcheck disable=SC1091
. install/setup.bash
set -u
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
exec python bench/run_bench.py "$@"
