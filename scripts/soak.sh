#!/usr/bin/env bash
# Set up (venv + colcon build, see bootstrap.sh), then soak vlm_node (bench/soak.py):
# 1080p30 frames, captions and requests for 20 minutes (--minutes); prints a table, exits 1
# on growth.
. "$(dirname "$0")/ros_env.sh"
exec python bench/soak.py "$@"
