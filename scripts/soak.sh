#!/usr/bin/env bash
# Set up (venv + colcon build, see bootstrap.sh), then soak vlm_node (bench/soak.py):
# 20,000 frames and 1,000 requests; prints a table, exits 1 on growth. About 3 minutes.
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
exec python bench/soak.py "$@"
