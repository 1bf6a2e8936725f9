#!/usr/bin/env bash
# Create or refresh one lane's venv and, where the lane has ROS 2, colcon-build both packages.
# Usage: bootstrap.sh [LANE]  (LANE also from the environment; default kilted)
#   kilted: ROS 2 Kilted wheels, the newest libraries (scripts/requirements.lock): .venv, install/
#   jazzy:  ROS 2 Jazzy wheels (Python 3.11): .venv-jazzy, install-jazzy/
#   jammy:  Ubuntu 22.04's libraries on Python 3.10, Kilted's cp310 wheels: .venv-jammy, install-jammy/
#   noble:  Ubuntu 24.04's libraries on Python 3.12, oldest openai, no ROS: .venv-noble
# Installs exactly the lane's lock (the set the tests passed with; see doc/no-ros-setup.md).
# Idempotent: pip runs only when the lock changed; colcon rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
lane=${1:-${LANE:-kilted}}

# The Python a lane needs: on PATH as pythonX.Y, or under pyenv's versions.
find_python() {
  local want=$1 candidate
  for candidate in "python$want" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$want".*/bin/python; do
    if command -v "$candidate" >/dev/null 2>&1 \
        && [ "$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$want" ]; then
      command -v "$candidate"
      return 0
    fi
  done
  echo "bootstrap: the $lane lane needs Python $want, which is not on PATH (python$want) nor" \
       "under ${PYENV_ROOT:-$HOME/.pyenv}/versions: install it (e.g. \`pyenv install $want\`)" >&2
  return 1
}

case $lane in
  kilted) venv=.venv; lock=scripts/requirements.lock; suffix=; python=${PYTHON:-python3} ;;
  jazzy) venv=.venv-jazzy; lock=scripts/lanes/jazzy.lock; suffix=-jazzy; python=$(find_python 3.11) ;;
  jammy) venv=.venv-jammy; lock=scripts/lanes/jammy.lock; suffix=-jammy; python=$(find_python 3.10) ;;
  noble) venv=.venv-noble; lock=scripts/lanes/noble.lock; suffix=; python=$(find_python 3.12) ;;
  *) echo "bootstrap: unknown lane '$lane' (lanes: kilted jazzy jammy noble)" >&2; exit 2 ;;
esac
# Lanes with ROS 2 build into install$suffix/; noble has none.
has_ros=$([ "$lane" = noble ] && echo no || echo yes)

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
# shellcheck disable=SC1091
. "$venv/bin/activate"

stamp=$venv/.requirements.sha256
want=$(sha256sum "$lock" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing the $lane lane's Python packages into $venv" >&2
  python -m pip install --quiet --disable-pip-version-check "$(grep -E '^pip==' "$lock")"
  python -m pip install --quiet --disable-pip-version-check -r "$lock"
  if [ "$has_ros" = yes ]; then
    # The ROS wheels' CMake files name include paths of the machine that built them;
    # point them at this interpreter's headers and NumPy (see doc/no-ros-setup.md).
    python - <<'PY'
import pathlib, re, sys, sysconfig
import numpy
venv = pathlib.Path(sys.prefix)
py_inc = sysconfig.get_paths()['include']
np_inc = numpy.get_include()
for f in (venv / 'share').rglob('*.cmake'):
    text = f.read_text(errors='surrogateescape')
    new = re.sub(r'/opt/python/cp\d+-cp\d+/lib/python3\.\d+/site-packages/numpy/_core/include', np_inc, text)
    new = re.sub(r'/opt/python/cp\d+-cp\d+/include/python3\.\d+', py_inc, new)
    if new != text:
        f.write_text(new, errors='surrogateescape')
PY
  fi
  echo "$want" > "$stamp"
fi
[ "$has_ros" = yes ] || exit 0

export AMENT_PREFIX_PATH=$VIRTUAL_ENV
install=$root/install$suffix
echo "bootstrap: colcon build, $lane lane (output in log$suffix/colcon-build.txt)" >&2
mkdir -p "log$suffix"
if ! colcon --log-base "$root/log$suffix" build --base-paths "$root" \
    --build-base "$root/build$suffix" --install-base "$install" \
    --cmake-args -DCMAKE_PREFIX_PATH="$VIRTUAL_ENV" -DPython3_EXECUTABLE="$VIRTUAL_ENV/bin/python" \
    -DBUILD_TESTING=OFF > "log$suffix/colcon-build.txt" 2>&1; then
  cat "log$suffix/colcon-build.txt" >&2
  exit 1
fi

# No `ros2 run` here (ros2cli is not on PyPI): put the node executables on the venv's PATH.
for exe in "$install"/jetson_vlm_ros/lib/jetson_vlm_ros/*; do
  ln -sf "$exe" "$venv/bin/$(basename "$exe")"
done
