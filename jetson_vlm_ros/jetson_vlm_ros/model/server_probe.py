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
A background check of the VLM server (GET /models) and the start-up warm-up, without ROS.

Runs on a daemon thread of its own, so neither a slow server nor a model that takes tens
of seconds to load ever holds the executor, a request slot or start-up.
"""

import threading
import time
from typing import Callable, Optional

from jetson_vlm_ros.core.health import ServerHealth
from jetson_vlm_ros.core.settings import VlmSettings
from jetson_vlm_ros.frames.image_conversion import PixelArray
from jetson_vlm_ros.frames.image_encoding import encode_pixels
from jetson_vlm_ros.model.vlm_client import VlmClient, VlmError, VlmRequest
import numpy as np

# A check gives up after this many seconds (or request_timeout, if shorter).
CHECK_TIMEOUT = 3.0
WARM_UP_PROMPT = 'Reply with OK.'


def warm_up_request(model: str) -> VlmRequest:
    """Return the smallest useful request: a 32x32 grey image, one token of answer."""
    grey = np.full((32, 32, 3), 128, np.uint8)
    image = encode_pixels(PixelArray(grey, 'RGB'), 32, 50)
    return VlmRequest(model=model, prompt=WARM_UP_PROMPT, image_data_url=image.data_url(),
                      max_tokens=1, temperature=0.0)


class ServerProbe:
    """Checks the server every `period` seconds (0: once) and warms the model up once."""

    def __init__(self, health: ServerHealth, settings: Callable[[], VlmSettings],
                 client_for: Callable[[VlmSettings], VlmClient], period: float,
                 warm_up: bool, log: Callable[[str, str], None]) -> None:
        self._health = health
        self._settings = settings
        self._client_for = client_for
        self._period = period
        self._warm_up_pending = warm_up
        self._log = log  # (level 'info' or 'warning', text)
        health.warm_up = 'pending' if warm_up else 'off'
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        """Start checking in the background."""
        self._thread = threading.Thread(target=self._run, name='vlm-server-probe', daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current check (the thread is a daemon: exit never waits for it)."""
        self._stop.set()

    def check_now(self) -> None:
        """Run one check (and the warm-up, if due) on the calling thread."""
        settings = self._settings()
        try:
            client = self._client_for(settings)
            models = client.list_models(min(settings.request_timeout, CHECK_TIMEOUT))
        except VlmError as error:
            self._health.check_failed(str(error))
            return
        self._health.check_succeeded(models)
        if self._warm_up_pending and not self._stop.is_set():
            self._warm_up_pending = False
            self._warm_up(client, settings)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.check_now()
            if self._period <= 0 and not self._warm_up_pending:
                return
            self._stop.wait(self._period if self._period > 0 else CHECK_TIMEOUT)

    def _warm_up(self, client: VlmClient, settings: VlmSettings) -> None:
        self._health.warm_up = 'running'
        started = time.monotonic()
        try:
            client.complete(warm_up_request(settings.model))
        except VlmError as error:
            # An empty answer still means the model was loaded: max_tokens is 1.
            if 'empty answer' not in str(error):
                self._health.warm_up = f'failed: {error}'
                self._log('warning', f'warm-up of {settings.model} failed: {error}')
                return
        took = time.monotonic() - started
        self._health.warm_up = f'done in {took:.1f} s'
        self._log('info', f'warm-up: {settings.model} answered in {took:.1f} s')
