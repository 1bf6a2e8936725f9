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


"""The gateway alone (no ROS): many clients streaming at once through it, all answered."""

import base64
from concurrent.futures import ThreadPoolExecutor
import http.client
import json

from conftest import free_port
import cv2
from fake_vlm_server import FakeVlmServer
from jetson_vlm_ros.core.settings import DEFAULT_SETTINGS
from jetson_vlm_ros.gateway.openai_gateway import OpenAiGateway
from jetson_vlm_ros.model.scene_describer import RequestSlots
import numpy as np
import pytest


class Backend:
    """Only what data: URL requests need."""

    def __init__(self, base_url: str) -> None:
        self.slots = RequestSlots(8)
        self._settings = DEFAULT_SETTINGS.updated({'base_url': base_url})

    def settings(self):
        return self._settings

    def refusal(self):
        return None


def stream_answer(port: int, payload: bytes) -> str:
    connection = http.client.HTTPConnection('127.0.0.1', port, timeout=20)
    try:
        connection.request('POST', '/v1/chat/completions', payload,
                           {'Content-Type': 'application/json'})
        response = connection.getresponse()
        if response.status != 200:
            return f'HTTP {response.status}: {response.read()[:200]!r}'
        text = ''
        for line in response:
            if line.startswith(b'data: {'):
                for choice in json.loads(line[6:])['choices']:
                    text += choice['delta'].get('content') or ''
        return text
    finally:
        connection.close()


@pytest.mark.parametrize('close_after_stream', [False, True])
def test_eight_clients_streaming_at_once_all_get_their_answers(close_after_stream):
    # With close_after_stream the server drops each stream's connection as the gateway's
    # pool takes it back: requests that meet such a connection must be sent again.
    pixels = np.random.default_rng(0).integers(0, 256, (504, 896, 3), dtype=np.uint8)
    jpeg = cv2.imencode('.jpg', pixels)[1].tobytes()
    url = 'data:image/jpeg;base64,' + base64.b64encode(jpeg).decode()
    port = free_port()
    with FakeVlmServer() as server:
        server.state.chunk_delay = 0.0
        server.state.close_after_stream = close_after_stream
        gateway = OpenAiGateway(Backend(server.base_url), '127.0.0.1', port, 20,
                                lambda level, text: None)
        gateway.start()
        try:
            def client(index: int) -> list[str]:
                answers = []
                for call in range(15):
                    payload = json.dumps({'model': 'gemma3:4b', 'stream': True, 'messages': [{
                        'role': 'user', 'content': [
                            {'type': 'text', 'text': f'q{index}-{call}'},
                            {'type': 'image_url', 'image_url': {'url': url}}]}]}).encode()
                    answers.append(stream_answer(port, payload))
                return answers

            with ThreadPoolExecutor(8) as pool:
                results = list(pool.map(client, range(8)))
        finally:
            gateway.stop()
    wrong = [(index, call, answer) for index, answers in enumerate(results)
             for call, answer in enumerate(answers)
             if answer != f'896x504 {answer.split(" ")[1]} prompt=q{index}-{call}']
    assert not wrong, f'{len(wrong)} of 120 streams failed, e.g. {wrong[:2]}'
