#!/usr/bin/env bash
# Set up (venv + colcon build, see bootstrap.sh) and run the whole test suite.
# Extra arguments go to pytest, e.g. `scripts/test.sh -k caption`.
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
ruff check .
cd jetson_vlm_ros
# The source tree comes first on the path, so tests exercise the code as checked out.
PYTHONPATH="$PWD:${PYTHONPATH:-}" exec python -m pytest -p no:cacheprovider -q -rs "$@" test
