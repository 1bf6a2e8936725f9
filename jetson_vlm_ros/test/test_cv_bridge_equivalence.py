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

"""Our converter against ROS 2 cv_bridge itself, where cv_bridge is installed."""

import importlib.util

from conftest import HAVE_ROS
from jetson_vlm_ros.frames.image_conversion import image_to_rgb, SUPPORTED_ENCODINGS
import numpy as np
import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec('cv_bridge') is None or not HAVE_ROS,
    reason='ROS 2 cv_bridge not installed (not on PyPI; comes with a ROS 2 install)')


def ros_image(encoding: str, padding_pixels: int):
    """Return a 7x6 image whose rows are padded by whole pixels (a `step` cv_bridge reads)."""
    from sensor_msgs.msg import Image
    rng = np.random.default_rng(5)
    channels = {'rgb8': 3, 'bgr8': 3, 'rgba8': 4, 'bgra8': 4, 'mono8': 1, 'mono16': 1}[encoding]
    dtype = np.dtype('<u2' if encoding == 'mono16' else np.uint8)
    pixels = rng.integers(0, np.iinfo(dtype).max + 1, (6, 7, channels)).astype(dtype)
    rows = pixels.reshape(6, -1).view(np.uint8)
    padding = padding_pixels * channels * dtype.itemsize
    padded = np.concatenate([rows, np.full((6, padding), 0xAB, np.uint8)], axis=1)
    return Image(height=6, width=7, encoding=encoding, is_bigendian=0,
                 step=padded.shape[1], data=padded.tobytes())


@pytest.mark.parametrize('padding_pixels', [0, 1, 3])
@pytest.mark.parametrize('encoding', SUPPORTED_ENCODINGS)
def test_same_rgb_as_cv_bridge(encoding, padding_pixels):
    from cv_bridge import CvBridge
    msg = ros_image(encoding, padding_pixels)
    expected = CvBridge().imgmsg_to_cv2(msg, desired_encoding='rgb8')
    np.testing.assert_array_equal(image_to_rgb(msg), expected)
