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
demo_camera: publish a synthetic, moving scene as a live sensor_msgs/Image stream.

Its process loads the package's Fast DDS profile (config/fastdds_large_frames.xml) unless
FASTDDS_DEFAULT_PROFILES_FILE or FASTRTPS_DEFAULT_PROFILES_FILE is set: with stock Fast DDS
only 66-73% of its 640x480 rgb8 frames at 10 Hz reached a subscriber in another process
(measured here), with the profile all of them (see README, Large frames).
"""

import math
import sys
from typing import Any, Optional, Sequence

import cv2
from jetson_vlm_ros.ros.fastdds_profile import load_package_profile_unless_set
from jetson_vlm_ros.ros.start_failure import destroy_half_made, guard_teardown
import numpy as np
from rcl_interfaces.msg import ParameterDescriptor
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image


def draw_scene(width: int, height: int, t: float) -> np.ndarray:
    """Draw an RGB scene: sky, floor, a blue box and a red ball rolling across."""
    scene = np.empty((height, width, 3), np.uint8)
    horizon = height * 3 // 5
    scene[:horizon] = (135, 190, 235)  # sky
    scene[horizon:] = (120, 110, 95)  # floor
    box = (width // 8, horizon - height // 4, width // 8 + width // 5, horizon + height // 10)
    cv2.rectangle(scene, box[:2], box[2:], (30, 60, 200), thickness=-1)
    x = int(width * (0.55 + 0.3 * math.sin(t * 0.5)))
    radius = max(4, height // 10)
    cv2.circle(scene, (x, horizon + radius // 2), radius, (220, 30, 30), thickness=-1)
    cv2.putText(scene, f'jetson_vlm_ros demo t={t:5.1f}s', (10, height - 12),
                cv2.FONT_HERSHEY_SIMPLEX, max(0.4, height / 800), (255, 255, 255), 1)
    return scene


# (name, default, meaning): declared by DemoCamera and listed by --help.
PARAMETERS: tuple[tuple[str, Any, str], ...] = (
    ('width', 640, 'frame width in pixels'),
    ('height', 480, 'frame height in pixels'),
    ('rate', 10.0, 'frames per second'),
    ('frame_id', 'camera', 'header.frame_id of every frame'),
)

USAGE = """usage: demo_camera [--ros-args -p NAME:=VALUE ... -r image:=TOPIC]

Publishes a synthetic scene (sky, floor, a box, a rolling ball) as sensor_msgs/Image rgb8 on
'image' (sensor-data QoS). Loads the package's Fast DDS profile for large frames unless
FASTDDS_DEFAULT_PROFILES_FILE or FASTRTPS_DEFAULT_PROFILES_FILE is set.

parameters:
"""


def usage() -> str:
    """Return the --help text: what it publishes and each parameter with its default."""
    rows = [f'  {name} ({type(default).__name__}, default {default!r}): {meaning}'
            for name, default, meaning in PARAMETERS]
    return USAGE + '\n'.join(rows)


def wants_help(argv: Sequence[str]) -> bool:
    """Return whether -h or --help comes before any ROS arguments."""
    for arg in argv:
        if arg == '--ros-args':
            return False
        if arg in ('-h', '--help'):
            return True
    return False


class DemoCameraError(ValueError):
    """A parameter value demo_camera cannot publish with."""


def checked_values(values: dict[str, Any]) -> dict[str, Any]:
    """Return the parameters as the camera uses them; raise DemoCameraError naming a bad one."""
    checked = dict(values)
    for name in ('width', 'height'):
        value = values[name]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 8192:
            raise DemoCameraError(f'{name} must be a whole number of pixels in 1..8192, '
                                  f'not {value!r}')
    rate = values['rate']
    # An integer (`-p rate:=10`) is as good as a float here.
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate <= 1000:
        raise DemoCameraError(f'rate must be a number of frames per second in (0, 1000], '
                              f'not {rate!r}')
    checked['rate'] = float(rate)
    if not isinstance(values['frame_id'], str):
        raise DemoCameraError(f"frame_id must be a string, not {values['frame_id']!r}")
    return checked


class DemoCamera(Node):
    """Publishes draw_scene() frames on `image` as rgb8."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('demo_camera', **kwargs)
        # dynamic_typing: a value of another type (`-p rate:=10`) reaches checked_values,
        # which says what is wrong, instead of rclpy's InvalidParameterTypeException.
        try:
            values = checked_values({
                name: self.declare_parameter(
                    name, default, ParameterDescriptor(description=meaning,
                                                       dynamic_typing=True)).value
                for name, default, meaning in PARAMETERS})
        except DemoCameraError:
            destroy_half_made(self)  # now, while the context lives (start_failure.py)
            raise
        self._width, self._height = values['width'], values['height']
        self._frame_id = values['frame_id']
        rate = values['rate']
        self._publisher = self.create_publisher(Image, 'image', qos_profile_sensor_data)
        self._start = self.get_clock().now()
        self.create_timer(1.0 / rate, self._publish)
        self.get_logger().info(
            f'publishing {self._width}x{self._height} rgb8 at {rate:g} Hz on '
            f"'{self._publisher.topic_name}'")

    def _publish(self) -> None:
        now = self.get_clock().now()
        pixels = draw_scene(self._width, self._height, (now - self._start).nanoseconds / 1e9)
        msg = Image(height=self._height, width=self._width, encoding='rgb8',
                    is_bigendian=0, step=self._width * 3, data=pixels.tobytes())
        msg.header.stamp = now.to_msg()
        msg.header.frame_id = self._frame_id
        self._publisher.publish(msg)


def main(args: Optional[list[str]] = None) -> None:
    """Run demo_camera until Ctrl-C or SIGTERM; --help lists its parameters."""
    if wants_help(sys.argv[1:] if args is None else args[1:]):
        print(usage())
        return
    profile = load_package_profile_unless_set()  # before rclpy.init: read at its first use
    rclpy.init(args=args)
    node: Optional[DemoCamera] = None
    exit_code = 0
    try:
        node = DemoCamera()
        if profile is not None:
            node.get_logger().info(f'Fast DDS profile: {profile}')
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass  # Ctrl-C, or rclpy's report of SIGTERM: a normal stop
    except DemoCameraError as error:
        rclpy.logging.get_logger('demo_camera').fatal(str(error))
        guard_teardown(2)
        exit_code = 2
    except Exception:  # noqa: B902 - re-raised unless it is a stop
        if rclpy.ok():
            raise
        # Jazzy's rclpy: its SIGINT handler shuts the context down while spin makes its
        # next wait set (RCLError 'the given context is not valid'): a normal stop too.
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    if exit_code:
        sys.exit(exit_code)


if __name__ == '__main__':
    main()
