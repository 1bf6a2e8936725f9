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
vlm_node while its camera fails: none, stopped, 4K at 30 Hz, malformed frames.

Real rclpy over DDS and a real loopback HTTP server (fake_vlm_server.py); nothing mocked.
"""

import re
import threading
import time
from typing import Any, Callable, Iterator, Optional

from conftest import (
    Caller, GREEN, HAVE_ROS, make_image, mean_rgb, module_harness, RED, requires_ros,
    RosHarness, solid, wait_for, wait_for_node_time)
from fake_vlm_server import FakeVlmServer
import numpy as np
import pytest

if HAVE_ROS:
    import rclpy
    from rclpy.node import Node
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

pytestmark = requires_ros


def test_no_camera_publisher(make_harness: Callable[..., 'RosHarness']) -> None:
    with FakeVlmServer() as server:
        harness = make_harness(base_url=server.base_url, caption_period=0.2,
                               diagnostics_period=0.2)
        caller = Caller(harness)
        topic = harness.node._camera.subscription.topic_name
        harness.tester.destroy_publisher(harness.image_pub)  # no camera at all
        wait_for(lambda: harness.node.count_publishers(topic) == 0, 5.0, 'no publisher')
        answer, _ = caller.call()
        assert not answer.success
        assert f"no image received yet on '{harness.namespace}/camera/image_raw'" in answer.error
        wait_for_node_time(harness, 0.6)  # three caption ticks with nothing to describe
        assert server.requests == [], 'nothing may reach the model without a frame'
        harness.image_pub = harness.tester.create_publisher(
            Image, 'camera/image_raw', qos_profile_sensor_data)  # the camera comes up
        with harness.streaming(make_image(solid(GREEN), stamp_sec=11)):
            answer, _ = caller.call()
        assert answer.success, answer.error
        assert answer.image_stamp.sec == 11


def test_camera_stops_then_resumes(make_harness: Callable[..., 'RosHarness']) -> None:
    with FakeVlmServer() as server:
        harness = make_harness(base_url=server.base_url, caption_period=0.0, max_image_age=0.5)
        caller = Caller(harness)
        with harness.streaming(make_image(solid(RED), stamp_sec=1)):
            assert caller.call()[0].success
        latest = harness.node._camera.latest_frame
        wait_for(lambda: time.monotonic() - latest.received_at > 0.6, 10.0,
                 'the latest frame to be older than max_image_age')
        requests_before = len(server.requests)
        answer, _ = caller.call()
        assert not answer.success
        assert re.search(r'the latest image on .* is \d+\.\d s old, older than max_image_age '
                         r'\(0\.5 s\): is the camera still publishing\?', answer.error), \
            answer.error
        assert answer.image_stamp.sec == 1
        assert len(server.requests) == requests_before
        with harness.streaming(make_image(solid(GREEN), stamp_sec=2)):
            answer, _ = caller.call()
        assert answer.success, answer.error
        assert answer.image_stamp.sec == 2 and mean_rgb(answer.description)[1] > 240


def test_4k_camera_at_up_to_30_hz_while_requests_run(
        make_harness: Callable[..., 'RosHarness']) -> None:
    """A 3840x2160 rgb8 camera in another DDS participant; every answer is of a new frame."""
    with FakeVlmServer() as server:
        harness = make_harness(base_url=server.base_url, caption_period=0.5)
        caller = Caller(harness)
        context = rclpy.Context()
        rclpy.init(context=context)
        camera = Node('camera_4k', namespace=harness.namespace, context=context)
        try:
            publisher = camera.create_publisher(Image, 'camera/image_raw',
                                                qos_profile_sensor_data)
            wait_for(lambda: publisher.get_subscription_count() > 0, 10.0,
                     'vlm_node to match the 4K camera')
            msg = make_image(solid(GREEN, 3840, 2160), stamp_sec=0)
            stop, published = threading.Event(), [0, 0.0]

            def run() -> None:
                started = time.monotonic()
                while not stop.is_set():
                    published[0] += 1
                    msg.header.stamp.sec = published[0]
                    publisher.publish(msg)
                    stop.wait(max(0.0, started + published[0] / 30.0 - time.monotonic()))
                published[1] = time.monotonic() - started

            thread = threading.Thread(target=run, daemon=True)
            thread.start()
            try:
                wait_for(lambda: harness.node._camera.frames_received >= 3, 10.0, '4K frames')
                answers = [caller.call(timeout=10.0)[0] for _ in range(5)]
            finally:
                stop.set()
                thread.join()
        finally:
            camera.destroy_node()
            rclpy.try_shutdown(context=context)
    rate = published[0] / published[1]
    received = harness.node._camera.frames_received
    print(f'4K camera: published {published[0]} frames at {rate:.1f} Hz, '
          f'vlm_node received {received}')
    assert rate > 2, f'the 4K publisher managed only {rate:.1f} Hz'
    for answer in answers:
        assert answer.success, f'{answer.error} (camera at {rate:.1f} Hz)'
        assert answer.description.startswith('896x504 '), answer.description
    stamps = [a.image_stamp.sec for a in answers]
    assert stamps == sorted(stamps) and len(set(stamps)) >= 3, \
        f'answers should follow the live camera, got frames {stamps} (at {rate:.1f} Hz)'
    seen = [r.image for r in server.requests]
    assert seen and all(max(s.width, s.height) <= 896 for s in seen)


def _be_mono16(value: int) -> 'Image':
    pixels = np.full((48, 64), value, dtype='>u2')
    msg = Image(height=48, width=64, encoding='mono16', is_bigendian=1, step=128,
                data=pixels.tobytes())
    return msg


def _malformed(field_name: str, value: Any) -> Callable[[], 'Image']:
    def build() -> 'Image':
        msg = make_image(solid(RED))
        if field_name == 'data':
            msg.data = bytes(msg.data)[:value]
        else:
            setattr(msg, field_name, value)
        return msg
    return build


# (id, frame, error pattern; None: must succeed)
FRAMES = [
    ('width_0', _malformed('width', 0), r'empty image: 0x48 pixels'),
    ('height_0', _malformed('height', 0), r'empty image: 64x0 pixels'),
    ('step_below_row', _malformed('step', 100),
     r'step 100 is smaller than one row of 64 rgb8 pixels \(192 bytes\)'),
    ('data_short', _malformed('data', 192 * 47),
     r'image data holds 9024 bytes, but step\*height = 192\*48 = 9216'),
    ('unknown_encoding', _malformed('encoding', 'xyz123'),
     r"(unsupported image encoding|cv_bridge cannot convert encoding) 'xyz123'"),
    ('mono16_big_endian', lambda: _be_mono16(40000), None),
]


@pytest.fixture(scope='module')
def frame_rig() -> Iterator[tuple['RosHarness', FakeVlmServer, Caller]]:
    with FakeVlmServer() as server:
        with module_harness('frames', base_url=server.base_url, caption_period=0.0) as harness:
            yield harness, server, Caller(harness)


@pytest.mark.parametrize('name, build, error', [pytest.param(*f, id=f[0]) for f in FRAMES])
def test_frame_fault_then_good_frame(frame_rig: tuple, name: str,
                                     build: Callable[[], 'Image'],
                                     error: Optional[str]) -> None:
    harness, server, caller = frame_rig
    stamp = 100 + [f[0] for f in FRAMES].index(name)
    msg = build()
    msg.header.stamp.sec = stamp
    requests_before = len(server.requests)
    with harness.streaming(msg):
        answer, _ = caller.call()
    assert answer.image_stamp.sec == stamp
    if error is None:
        assert answer.success, answer.error
        # 40000 * 255 / 65535 = 156; read little-endian by mistake it would be 64.
        assert mean_rgb(answer.description) == (156, 156, 156), answer.description
    else:
        assert not answer.success
        assert answer.error.startswith('cannot use the latest image: '), answer.error
        assert re.search(error, answer.error), answer.error
        assert len(server.requests) == requests_before, 'a bad frame must not reach the model'
    good = make_image(solid(GREEN), stamp_sec=stamp + 1000)
    with harness.streaming(good):
        answer, _ = caller.call()
    assert answer.success, answer.error
    assert answer.image_stamp.sec == stamp + 1000
    r, g, b = mean_rgb(answer.description)
    assert g > 240 and r < 15 and b < 15
