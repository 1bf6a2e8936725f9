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

"""caption_image from a real vlm_node: the captioned frame, as sent, with the caption drawn."""

from conftest import HAVE_ROS, make_image, requires_ros, solid, wait_for
import numpy as np

if HAVE_ROS:
    from jetson_vlm_interfaces.srv import DescribeScene
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

pytestmark = requires_ros


def pixels(msg) -> np.ndarray:
    return np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width, 3)


def test_caption_image_is_the_sent_frame_with_the_caption_on_a_band(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.3)
    images = []
    harness.tester.create_subscription(Image, 'caption_image', images.append, 10)
    source = make_image(solid((0, 200, 0), 1920, 1080), 'rgb8', stamp_sec=77,
                        frame_id='front_camera')
    with harness.streaming(source, rate=5.0):
        wait_for(lambda: images, 15.0, 'a caption image')
    image = images[0]
    assert image.encoding == 'bgr8'
    assert image.header.stamp.sec == 77 and image.header.frame_id == 'front_camera'
    assert (image.width, image.height) == (896, 504)  # the size the model was sent
    drawn = pixels(image)
    top_rows = drawn[:300].reshape(-1, 3)
    # Above the band: the frame (green, JPEG-free: drawn from the pixels that were encoded).
    assert np.abs(top_rows.astype(int) - (0, 200, 0)).max() <= 2
    bottom = drawn[-30:].reshape(-1, 3)
    assert bottom[:, 1].mean() < 120, 'the band darkens the bottom of the frame'
    assert (bottom > 240).all(axis=1).any(), 'white caption text in the band'


def test_nothing_is_drawn_without_a_subscriber(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.2)
    captions = []
    harness.tester.create_subscription(String, 'caption', captions.append, 10)
    with harness.streaming(make_image(solid((200, 0, 0)), 'rgb8'), rate=10.0):
        # Each caption is drawn (or not) before the next one is published: two captions
        # received prove the first went through the drawing step.
        wait_for(lambda: len(captions) >= 2, 10.0, 'captions')
        assert harness.node._captions.images_drawn == 0
        images = []
        harness.tester.create_subscription(Image, 'caption_image', images.append, 10)
        wait_for(lambda: images, 10.0, 'a caption image once subscribed')
        assert harness.node._captions.images_drawn >= 1


def test_service_answers_are_drawn_only_when_asked(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0)
    images = []
    harness.tester.create_subscription(Image, 'caption_image', images.append, 10)
    client = harness.tester.create_client(DescribeScene, 'describe_scene')
    topic = f'{harness.namespace}/caption_image'
    wait_for(lambda: harness.tester.count_publishers(topic) == 1, 5.0, 'the publisher')
    with harness.streaming(make_image(solid((200, 0, 0)), 'rgb8', stamp_sec=5), rate=10.0):
        assert harness.call(client, DescribeScene.Request()).success
        # An answer is drawn (or not) before it is sent: nothing was.
        assert harness.node._captions.images_drawn == 0, 'answers are not drawn by default'
        harness.node.set_parameters([Parameter('caption_image_answers', value=True)])
        assert harness.call(client, DescribeScene.Request(prompt='What?')).success
        wait_for(lambda: images, 5.0, 'the answer drawn on caption_image')
    assert images[0].header.stamp.sec == 5
