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
Figure 2 of the bench: a frame message -> the request's data URL, vs naive and vs a floor.

The naive way: a full-size PNG; the floor: one resize and one JPEG encode of a ready array
(see bench/README.md).
"""

import argparse

from common import image_message, Row, scene, timed, verdict
from package_modules import package_module

NAME = 'prepare'


def run(args: argparse.Namespace) -> list[Row]:
    """Return the figure's rows."""
    return bench_preparation(args.repeat)


def bench_preparation(repeat: int) -> list[Row]:
    """Frame message -> request data URL, vs naive full-size PNG and vs the resize+encode floor."""
    import base64
    import io

    import cv2
    import numpy as np
    from PIL import Image as PilImage

    image_encoding = package_module('image_encoding')
    encode_image_message = image_encoding.encode_image_message

    def naive(pixels: np.ndarray) -> str:
        buffer = io.BytesIO()
        PilImage.fromarray(pixels).save(buffer, 'PNG')
        return 'data:image/png;base64,' + base64.b64encode(buffer.getvalue()).decode('ascii')

    def floor(pixels: np.ndarray, size: tuple[int, int]) -> bytes:
        small = cv2.resize(pixels, size)
        return cv2.imencode('.jpg', small, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()

    rows = []
    for width, height in ((640, 480), (1280, 720), (1920, 1080), (3840, 2160)):
        rgb = scene(width, height)
        target = image_encoding.fit_within(width, height, 896)
        for encoding in ('rgb8', 'bgr8', 'mono8'):
            msg = image_message(rgb, encoding)
            array = np.frombuffer(bytes(msg.data), np.uint8).reshape(
                height, width, -1).squeeze()
            ours = timed(lambda m=msg: encode_image_message(m, 896, 85).data_url(), repeat)
            base = timed(lambda a=array, t=target: floor(a, t), repeat)
            is_target = (width, height, encoding) == (1920, 1080, 'rgb8')
            rows.append(Row(
                f'2. prepare {width}x{height} {encoding} -> 896 JPEG URL vs floor '
                f'(1 resize + 1 imencode)', f'{ours * 1e3:.2f} ms', f'{base * 1e3:.2f} ms',
                f'{ours / base:.2f}x floor', '<= 1.5x' if is_target else '-',
                verdict(ours / base <= 1.5) if is_target else 'info'))
            if encoding == 'rgb8':
                slow = timed(lambda a=array: naive(a), repeat if width < 3840 else 10)
                rows.append(Row(
                    f'2. prepare {width}x{height} rgb8 vs naive full-size Pillow PNG + base64'
                    + (' (median of 10)' if width >= 3840 else ''),
                    f'{ours * 1e3:.2f} ms', f'{slow * 1e3:.1f} ms',
                    f'{slow / ours:.0f}x faster', '>= 30x' if is_target else '-',
                    verdict(slow / ours >= 30) if is_target else 'info'))
    rgb = scene(1920, 1080)
    area = timed(lambda: cv2.resize(rgb, (896, 504), interpolation=cv2.INTER_AREA), repeat)
    linear = timed(lambda: cv2.resize(rgb, (896, 504), interpolation=cv2.INTER_LINEAR), repeat)
    ours = timed(lambda: image_encoding.resize_to_fit(rgb, 896), repeat)
    rows.append(Row('2. resize 1920x1080 rgb8 -> 896x504: one INTER_AREA vs INTER_LINEAR',
                    f'{area * 1e3:.2f} ms', f'{linear * 1e3:.2f} ms',
                    f'{area / linear:.2f}x', '-', 'info'))
    rows.append(Row('2. same resize, ours (2x INTER_AREA halving + INTER_LINEAR, '
                    'anti-aliased) vs INTER_LINEAR', f'{ours * 1e3:.2f} ms',
                    f'{linear * 1e3:.2f} ms', f'{ours / linear:.2f}x', '-', 'info'))
    return rows
