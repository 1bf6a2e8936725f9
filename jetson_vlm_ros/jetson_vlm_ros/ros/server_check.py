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
vlm_node's start-up check of the VLM server: one line for the operator, once the node spins.

It asks the server for its models on a worker (it waits on the network) and says whether
the server is up and lists the model; a server that cannot be reached is a warning, never
a reason to stop: the node retries on every request.
"""

from typing import Any, Callable

from jetson_vlm_ros.core.settings import VlmSettings
from jetson_vlm_ros.model.scene_describer import SceneDescriber
from jetson_vlm_ros.model.vlm_client import VlmClosedError, VlmError
from rclpy.node import Node

# The start-up check of the server gives up after this many seconds.
SERVER_CHECK_TIMEOUT = 3.0


class StartupServerCheck:
    """Checks the server once, as soon as the node spins."""

    def __init__(self, node: Node, describer: SceneDescriber,
                 settings: Callable[[], VlmSettings], callback_group: Any,
                 failed: Callable[[str], None]) -> None:
        self._node = node
        self._describer = describer
        self._settings = settings
        self._failed = failed  # told the reason the server cannot be used
        self._timer = node.create_timer(0.0, self._check, callback_group=callback_group)

    def _check(self) -> None:
        self._timer.cancel()
        self._node.destroy_timer(self._timer)
        settings = self._settings()
        log = self._node.get_logger()
        try:
            client = self._describer.client_for(settings)
            models = client.list_models(min(settings.request_timeout, SERVER_CHECK_TIMEOUT))
        except VlmClosedError:
            return  # the node is being destroyed: nothing to tell the operator
        except VlmError as error:
            # One line for the operator; identical caption failures stay quiet for a while.
            self._failed(str(error))
            hint = (' (or with Docker: `docker run -d -p 11434:11434 ollama/ollama`)'
                    if str(error).startswith('cannot reach') else '')
            log.warning(f'{error}{hint}; the node keeps running and retries on every request')
            return
        if models and settings.model not in models:
            log.warning(
                f"the server at {settings.base_url} does not list model '{settings.model}' "
                f"(it has: {', '.join(models[:10])}); pull it with `ollama pull "
                f'{settings.model}`')
        else:
            log.info(f'VLM server at {settings.base_url} is up')
