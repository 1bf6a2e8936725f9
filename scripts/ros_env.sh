# Sourced by the scripts in this folder: set up (bootstrap.sh), then enter the environment
# where vlm_node runs: the venv with the ROS 2 wheels plus colcon's install/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh
# shellcheck disable=SC1091
. .venv/bin/activate
set +u  # colcon's setup scripts read unset variables
# shellcheck disable=SC1091
. install/setup.bash
set -u
export ROS_AUTOMATIC_DISCOVERY_RANGE=${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}
