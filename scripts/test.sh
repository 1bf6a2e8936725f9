#!/usr/bin/env bash
# Set up and run the test suite, in one lane or in all of them (what CI runs: .ci/run).
#   scripts/test.sh                       every lane in turn: kilted jazzy jammy noble
#                                         (or only the lane LANE names, when set)
#   scripts/test.sh --lane jammy          one lane (set-up: bootstrap.sh; lanes: README)
#   scripts/test.sh --lane kilted -k caption    extra arguments go to pytest (in jetson_vlm_ros/)
# Set-up: the lane's venv and colcon build (bootstrap.sh), the status page test's browser
# (install_browser.sh). Without file arguments pytest runs all of test/.
set -euo pipefail
LANES=(kilted jazzy jammy noble)
if [ "${1:-}" != --lane ] && [ -n "${LANE:-}" ]; then
  set -- --lane "$LANE" "$@"
fi
if [ "${1:-}" != --lane ]; then
  cd "$(dirname "$0")/.."
  failed=()
  for lane in "${LANES[@]}"; do
    echo "=== lane $lane ===" >&2
    started=$SECONDS
    if bash scripts/test.sh --lane "$lane" "$@"; then result=passed; else result=FAILED; failed+=("$lane"); fi
    echo "=== lane $lane: $result in $((SECONDS - started)) s ===" >&2
  done
  if [ ${#failed[@]} -gt 0 ]; then
    echo "test.sh: failed lanes: ${failed[*]}" >&2
    exit 1
  fi
  exit 0
fi
export LANE=${2:?'--lane needs a name: kilted jazzy jammy noble'}
shift 2
. "$(dirname "$0")/ros_env.sh"
bash scripts/install_browser.sh
ruff check .
cd jetson_vlm_ros
# The source tree comes first on the path, so tests exercise the code as checked out.
PYTHONPATH="$PWD:${PYTHONPATH:-}" exec python -m pytest -p no:cacheprovider -q -rs "$@"
