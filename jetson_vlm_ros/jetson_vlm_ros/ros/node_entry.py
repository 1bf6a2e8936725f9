# Copyright 2026 jetson_vlm_ros contributors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""
vlm_node's console script: a Ctrl-C or SIGTERM while the node's modules load is a quiet stop.

Importing vlm_node loads rclpy, OpenCV, numpy, aiohttp and openai: about 3 s on the 2-core
test machine. A signal in those seconds printed a KeyboardInterrupt traceback (`ros2 launch`:
"process has died [exit code -2]"). From vlm_node.main() on, the node's own handlers stop it.
An openai older than the node needs (openai_version.py) stops it first, with one line.
"""

import signal
import sys
from typing import Optional

from jetson_vlm_ros.model.openai_version import installed_openai_version, openai_problem


def main(args: Optional[list[str]] = None) -> None:
    """Load vlm_node and run it; a signal while loading ends the process with status 0."""
    # Both as Ctrl-C does, also where SIGINT came ignored (a background job of a script):
    # vlm_node.main() handles both itself from then on, as rclpy does for any node.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        problem = openai_problem(installed_openai_version())
        if problem:
            # One line that names the fix, not an AttributeError from deep inside the node.
            from rclpy.logging import get_logger
            get_logger('vlm_node').fatal(problem)
            sys.exit(1)
        from jetson_vlm_ros.ros.vlm_node import main as run_node
    except KeyboardInterrupt:
        # ros2 launch follows its group's SIGINT with one of its own: not a traceback either.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sys.exit(0)
    run_node(args)


if __name__ == '__main__':
    main()
