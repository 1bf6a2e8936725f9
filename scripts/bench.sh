#!/usr/bin/env bash
# Set up (venv + colcon build, see bootstrap.sh), then run the bench (bench/run_bench.py):
# prints one Markdown table. Extra arguments go to run_bench.py, e.g. `--only idle`
# (`--list` names the figures; bench/README.md says how to run one).
. "$(dirname "$0")/ros_env.sh"
exec python bench/run_bench.py "$@"
