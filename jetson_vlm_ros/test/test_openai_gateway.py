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


"""The gateway's request handling without a server: URLs, camera models, filled bodies."""

import json

from jetson_vlm_ros.gateway.openai_gateway import (
    camera_model, encode_with_images, GatewayError, image_source, unused_placeholder)
import pytest

URL = b'data:image/jpeg;base64,/9j/4AAQSkZJRgABAQ+/='


def test_filled_body_is_the_json_of_the_body_with_the_images_in_it():
    placeholder = unused_placeholder(b'{}')
    body = {'model': 'm', 'messages': [{'role': 'user', 'content': [
        {'type': 'text', 'text': 'caf\u00e9 "quoted" \\ back'},
        {'type': 'image_url', 'image_url': {'url': placeholder, 'detail': 'low'}},
        {'type': 'image_url', 'image_url': {'url': placeholder}}]}]}
    filled = json.loads(encode_with_images(body, {placeholder: URL}))
    parts = filled['messages'][0]['content']
    assert parts[0]['text'] == 'caf\u00e9 "quoted" \\ back'
    assert parts[1]['image_url'] == {'url': URL.decode(), 'detail': 'low'}
    assert parts[2]['image_url'] == {'url': URL.decode()}


def test_placeholders_never_match_what_the_client_sent():
    first = unused_placeholder(b'')
    assert first.startswith('ros-image-') and len(first) == len('ros-image-') + 32
    assert unused_placeholder(first.encode()) != first
    assert len({unused_placeholder(b'') for _ in range(100)}) == 100


@pytest.mark.parametrize('url, topic', [
    ('ros://latest', 'latest'), ('ros:///front/image_raw', '/front/image_raw'),
    ('ros:///front/image_raw/', '/front/image_raw'), ('data:image/png;base64,AAAA', None)])
def test_image_sources(url, topic):
    assert image_source(url).topic == topic


@pytest.mark.parametrize('url', ['http://example.com/a.jpg', 'file:///etc/passwd',
                                 'ros://front', 'ros://', 'https://x', 42])
def test_urls_the_gateway_never_fetches(url):
    with pytest.raises(GatewayError) as raised:
        image_source(url)
    assert raised.value.status == 400


@pytest.mark.parametrize('model, split', [
    ('gemma3:4b+camera', ('gemma3:4b', 'latest')),
    ('gemma3:4b+/front/image_raw', ('gemma3:4b', '/front/image_raw')),
    ('gemma3:4b', ('gemma3:4b', None)), ('+camera', ('+camera', None))])
def test_camera_models(model, split):
    assert camera_model(model) == split
