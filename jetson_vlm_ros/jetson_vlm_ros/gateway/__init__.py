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
The OpenAI-compatible HTTP gateway and its status page, pure Python (no ROS imports).

Public modules: openai_gateway (the aiohttp server: /v1/models, /v1/chat/completions,
/v1/responses, /health and the status page), gateway_guard (API keys, allowed hosts and
origins, request limits), gateway_replies (chat completion replies and stream chunks),
responses_api (the Responses API on top of the same describer). status_page/ holds the
page's static files, served from the installed package.
"""
