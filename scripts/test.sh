#!/usr/bin/env bash
# Set up (venv + colcon build, see bootstrap.sh) and run the whole test suite.
# Extra arguments go to pytest (run in jetson_vlm_ros/), e.g. `scripts/test.sh -k caption` or
# `scripts/test.sh test/test_settings.py`; without file arguments pytest runs all of test/.
. "$(dirname "$0")/ros_env.sh"
ruff check .
cd jetson_vlm_ros
# The source tree comes first on the path, so tests exercise the code as checked out.
PYTHONPATH="$PWD:${PYTHONPATH:-}" exec python -m pytest -p no:cacheprovider -q -rs "$@"
