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
Figure 5 of the bench: compressed input, a 1080p JPEG vs one already within 896.

The 1080p JPEG is decoded, resized and encoded; the small one is forwarded as is (see
bench/README.md).
"""

import argparse

from common import Row, scene, timed, verdict
from package_modules import package_module

NAME = 'compressed'


def run(args: argparse.Namespace) -> list[Row]:
    """Return the figure's rows."""
    return bench_compressed(args.repeat)


def bench_compressed(repeat: int) -> list[Row]:
    """Time a 1080p JPEG (decode+resize+encode) vs a JPEG already within 896 (pass-through)."""
    import cv2
    encode = getattr(package_module('image_encoding'), 'encode_compressed_message', None)
    if encode is None:
        return [Row('5. compressed input', 'encode_compressed_message not there yet', '-',
                    '-', '>= 10x', 'FAIL')]
    from sensor_msgs.msg import CompressedImage
    big = scene(1920, 1080)[:, :, ::-1]
    small = cv2.resize(big, (896, 504), interpolation=cv2.INTER_AREA)
    messages = []
    for pixels in (big, small):
        jpeg = cv2.imencode('.jpg', pixels, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
        messages.append(CompressedImage(format='jpeg', data=jpeg))
    full = timed(lambda: encode(messages[0], 896, 85).data_url(), repeat)
    passed = timed(lambda: encode(messages[1], 896, 85).data_url(), repeat)
    return [Row('5. compressed: 896x504 JPEG pass-through vs 1920x1080 JPEG decode+resize+'
                'encode (incl. data URL)', f'{passed * 1e3:.3f} ms', f'{full * 1e3:.2f} ms',
                f'{full / passed:.0f}x faster', '>= 10x', verdict(full / passed >= 10))]
