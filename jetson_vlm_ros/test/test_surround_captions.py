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

"""Captions across cameras: one call for the covered cameras, their stamps, a mosaic, gating."""

import re

from conftest import HAVE_ROS, make_image, publishing, requires_ros, solid, wait_for
from jetson_vlm_ros.core.settings import settings_from, SettingsError
from jetson_vlm_ros.frames.caption_drawing import draw_mosaic
from jetson_vlm_ros.frames.scene_change import SceneChangeGate
import numpy as np
import pytest
from test_cameras import assert_seen, frame, FRONT, publisher, REAR
from test_scene_change import message

if HAVE_ROS:
    from jetson_vlm_interfaces.msg import Caption
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image

BLUE = (0, 0, 255)


# --- without ROS -------------------------------------------------------------------------

@pytest.mark.parametrize('values, problem', [
    ({'cameras': ['front'], 'caption_cameras': ['rear']},
     "invalid value for parameter 'caption_cameras': unknown camera 'rear': this node's "
     "cameras are front (or 'all')"),
    ({'caption_cameras': ['front']},
     "this node has no named cameras (cameras parameter): set 'cameras' to name them"),
    ({'cameras': ['front', 'rear'], 'caption_cameras': ['all', 'rear']},
     "'all' means every camera: name no other with it"),
    ({'cameras': ['front', 'rear'], 'caption_cameras': ['rear', 'rear']},
     'camera named twice: rear'),
])
def test_caption_cameras_must_name_the_nodes_cameras(values, problem):
    with pytest.raises(SettingsError, match=re.escape(problem)):
        settings_from(values)


def test_caption_cameras_accepts_names_and_all():
    assert settings_from({'cameras': ['front', 'rear'],
                          'caption_cameras': ['rear', 'front']}).caption_cameras == (
        'rear', 'front')
    assert settings_from({'cameras': ['front'], 'caption_cameras': ['all']}).caption_cameras \
        == ('all',)


def bgr(rgb, width, height):
    return np.ascontiguousarray(solid(rgb, width, height)[:, :, ::-1])


def test_mosaic_shows_every_tile_at_one_height_with_the_caption_under_them():
    tiles = [('front', bgr((255, 0, 0), 320, 240)), ('rear', bgr((0, 255, 0), 640, 480))]
    mosaic = draw_mosaic(tiles, 'A person stands behind the robot.')
    assert mosaic.shape[1] == 320 + 4 + 320  # the rear tile scaled down to 240 rows
    pictures, band = mosaic[:240], mosaic[240:]
    assert band.shape[0] > 10, 'a caption band under the pictures'
    # Away from each tile's name box: the tile's own colour, left to right in the order given.
    assert (pictures[100:, 10:310] == (0, 0, 255)).all()  # red, as BGR
    assert (pictures[100:, 334:] == (0, 255, 0)).all()
    assert (pictures[:, 320:324] == 0).all(), 'a black gap between two cameras'
    assert (band > 240).all(axis=2).any(), 'white caption text under the pictures'
    for left in (0, 324):  # each tile's name, white on a dark box in its top left corner
        corner = pictures[:30, left:left + 80]
        assert (corner > 240).all(axis=2).any() and (corner.max(axis=2) < 120).any()


def test_the_gate_looks_at_every_camera():
    gate = SceneChangeGate()
    front, rear = message(solid((100, 100, 100))), message(solid((30, 30, 30)))
    assert gate.should_caption_all([front, rear], 0.1), 'the first caption'
    gate.captioned()
    assert not gate.should_caption_all([front, rear], 0.1), 'nothing changed'
    changed_rear = message(solid((230, 230, 230)))
    assert gate.should_caption_all([front, changed_rear], 0.1), 'the rear camera changed'
    assert gate.last_change == pytest.approx(200 / 255, abs=0.01)
    gate.captioned()
    assert not gate.should_caption_all([front, changed_rear], 0.1)
    assert gate.should_caption_all([front], 0.1), 'other cameras than last time: caption'


# --- a node with two cameras -------------------------------------------------------------

def captions_of(harness) -> list:
    received: list = []
    harness.tester.create_subscription(Caption, 'caption_stamped', received.append, 10)
    return received


@requires_ros
def test_a_surround_caption_describes_both_cameras_in_one_call(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.3,
                           cameras=['front', 'rear'], caption_cameras=['rear', 'front'])
    captions = captions_of(harness)
    images: list = []
    harness.tester.create_subscription(Image, 'caption_image', images.append, 10)
    with publishing(publisher(harness, 'front'), frame(FRONT), 20.0), \
            publishing(publisher(harness, 'rear'), frame(REAR), 20.0):
        # A caption made before one camera's first frame leaves that camera out: wait for both.
        wait_for(lambda: any(len(c.cameras) == 2 for c in captions)
                 and any(i.width == 132 for i in images), 15.0, 'a surround caption and its image')
    caption = next(c for c in captions if len(c.cameras) == 2)
    assert list(caption.cameras) == ['rear', 'front']
    assert [stamp.sec for stamp in caption.image_stamps] == [REAR['stamp'], FRONT['stamp']]
    assert caption.header.stamp.sec in (REAR['stamp'], FRONT['stamp'])  # the newer frame
    request = next(r for r in server.requests if len(r.images) == 2)
    assert request.texts[:2] == ["Camera 'rear':", "Camera 'front':"]
    assert_seen(request.images[0], REAR)
    assert_seen(request.images[1], FRONT)
    assert caption.text.startswith('64x48'), 'the answer is about what was sent (the last)'
    # The mosaic: rear (96x72 scaled to 48 rows: 64 wide), a gap, front (64x48), the caption.
    image = next(i for i in images if i.width == 132)  # the mosaic of both
    drawn = np.frombuffer(bytes(image.data), np.uint8).reshape(image.height, image.width, 3)
    assert image.width == 64 + 4 + 64 and image.height > 48
    below_names = drawn[30:46]
    assert np.abs(below_names[:, 8:60].astype(int) - (0, 255, 0)).max() <= 40  # rear: green
    assert np.abs(below_names[:, 76:128].astype(int) - (0, 0, 255)).max() <= 40  # front: red


@requires_ros
def test_a_silent_camera_is_left_out_and_the_others_still_captioned(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.3, max_image_age=1.0,
                           cameras=['front', 'rear'], caption_cameras=['all'])
    captions = captions_of(harness)
    with publishing(publisher(harness, 'front'), frame(FRONT), 20.0):
        with publishing(publisher(harness, 'rear'), frame(REAR), 20.0):
            wait_for(lambda: any(list(c.cameras) == ['front', 'rear'] for c in captions),
                     15.0, 'a caption of both cameras')
        # The rear camera stopped: once its frame is over max_image_age, it is left out.
        wait_for(lambda: list(captions[-1].cameras) == ['front'], 15.0,
                 'a caption of the front camera alone')
    assert len(server.requests[-1].images) == 1
    assert_seen(server.requests[-1].images[0], FRONT)
    assert server.requests[-1].texts[0] == "Camera 'front':"


@requires_ros
def test_gating_looks_at_every_covered_camera(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.2, caption_min_change=0.1,
                           cameras=['front', 'rear'], caption_cameras=['all'])
    captions = captions_of(harness)
    front = publisher(harness, 'front')
    rear = publisher(harness, 'rear')
    with publishing(front, frame(FRONT), 20.0):
        with publishing(rear, frame(REAR), 20.0):
            # Not just any caption: one before the rear camera's first frame leaves it out.
            wait_for(lambda: any(list(c.cameras) == ['front', 'rear'] for c in captions), 15.0,
                     'the first caption of both cameras')
            first = len(captions)
            wait_for(lambda: harness.node._captions.scene_gate.skipped >= 3, 15.0,
                     'skipped captions: neither camera changed')
            assert len(captions) == first
        # Only the rear (not the default) camera changes: that is a new scene.
        blue = make_image(solid(BLUE, *REAR['size']), stamp_sec=33)
        with publishing(rear, blue, 20.0):
            wait_for(lambda: len(captions) > first, 15.0, 'a caption after the rear changed')
    assert [s.sec for s in captions[-1].image_stamps] == [FRONT['stamp'], 33]


@requires_ros
def test_caption_cameras_changes_at_run_time_and_refuses_unknown_names(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.3,
                           cameras=['front', 'rear'])
    captions = captions_of(harness)
    refused = harness.node.set_parameters([Parameter('caption_cameras', value=['top'])])[0]
    assert not refused.successful
    assert "unknown camera 'top'" in refused.reason, refused.reason
    with publishing(publisher(harness, 'front'), frame(FRONT), 20.0), \
            publishing(publisher(harness, 'rear'), frame(REAR), 20.0):
        wait_for(lambda: captions, 15.0, 'a caption of the default camera')
        assert list(captions[0].cameras) == ['front']  # named: which camera it was
        assert_seen(server.requests[0].images[0], FRONT)
        assert harness.node.set_parameters(
            [Parameter('caption_cameras', value=['rear'])])[0].successful
        wait_for(lambda: list(captions[-1].cameras) == ['rear'], 15.0,
                 'a caption of the rear camera')
    assert_seen(server.requests[-1].images[0], REAR)
