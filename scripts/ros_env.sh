# Sourced by the scripts in this folder: set up (bootstrap.sh), then enter the environment
# where vlm_node runs: the lane's venv (LANE, default kilted) plus its colcon install.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
LANE=${LANE:-kilted}
bash scripts/bootstrap.sh "$LANE"
case $LANE in
  kilted) _venv=.venv; _install=install ;;
  noble) _venv=.venv-noble; _install= ;;
  *) _venv=.venv-$LANE; _install=install-$LANE ;;
esac
# shellcheck disable=SC1091
. "$_venv/bin/activate"
if [ -n "$_install" ]; then
  set +u  # colcon's setup scripts read unset variables
  # shellcheck disable=SC1091
  . "$_install/setup.bash"
  set -u
else
  # A lane without ROS 2 on purpose: the tests that need rclpy skip with this reason, also
  # under CI=true (conftest.py).
  export JETSON_VLM_LANE_WITHOUT_ROS="the $LANE lane runs without ROS 2 on purpose (Jazzy's wheels are cp311 only; the jazzy lane runs the ROS tests)"
fi
export ROS_AUTOMATIC_DISCOVERY_RANGE=${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}
