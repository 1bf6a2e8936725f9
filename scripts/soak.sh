#!/usr/bin/env bash
# Set up (venv + colcon build, see bootstrap.sh), then soak vlm_node (bench/soak.py):
# 20,000 frames and 1,000 requests; prints a table, exits 1 on growth. About 3 minutes.
. "$(dirname "$0")/ros_env.sh"
exec python bench/soak.py "$@"
