#!/usr/bin/env bash
# Set up (venv + colcon build, see bootstrap.sh), then run vlm_node on a synthetic camera
# and print its captions until Ctrl-C. Talks to the VLM server at BASE_URL (default: Ollama
# on this machine), asking MODEL (default gemma3:4b). DEMO_SECONDS=N stops it after N s.
# The OpenAI-compatible gateway and status page listen on 127.0.0.1:GATEWAY_PORT (default
# 8080; 0 turns it off).
. "$(dirname "$0")/ros_env.sh"
export PYTHONUNBUFFERED=1
params=install/jetson_vlm_ros/share/jetson_vlm_ros/config/vlm.yaml

set -m  # each background job gets its own process group, so Ctrl-C reaches it
# The camera's process loads the package's Fast DDS profile: with stock Fast DDS a third of
# its 640x480 frames were lost between processes (README, Large frames). These ROS 2 wheels
# are Kilted (Fast DDS 3), which reads FASTDDS_DEFAULT_PROFILES_FILE.
FASTDDS_DEFAULT_PROFILES_FILE="$PWD/install/jetson_vlm_ros/share/jetson_vlm_ros/config/fastdds_large_frames.xml" \
  demo_camera --ros-args -r image:=/camera/image_raw &
camera=$!
vlm_node --ros-args --params-file "$params" -r image:=/camera/image_raw \
  -p "base_url:=${BASE_URL:-http://localhost:11434/v1}" -p "model:=${MODEL:-gemma3:4b}" \
  -p caption_period:=3.0 -p "gateway_port:=${GATEWAY_PORT:-8080}" &
node=$!
stop() {
  kill -INT -- "-$node" "-$camera" 2>/dev/null || true
  wait "$node" "$camera" 2>/dev/null || true
}
trap 'stop; exit 0' INT TERM
echo "demo: camera on /camera/image_raw, captions on /caption; Ctrl-C stops" >&2
if [ "${GATEWAY_PORT:-8080}" != 0 ]; then
  echo "demo: status page http://127.0.0.1:${GATEWAY_PORT:-8080}/ ; OpenAI-compatible API" \
    "http://127.0.0.1:${GATEWAY_PORT:-8080}/v1 (model ${MODEL:-gemma3:4b}+camera)" >&2
fi
if [ -n "${DEMO_SECONDS:-}" ]; then
  sleep "$DEMO_SECONDS"
  stop
else
  wait "$node"
  stop
fi
