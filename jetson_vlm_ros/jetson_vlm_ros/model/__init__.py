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
Talking to the vision-language model, pure Python (no ROS imports).

Public modules: vlm_client (the OpenAI-compatible chat client), openai_version (the oldest
openai it works with), scene_describer (frames to a description, with request slots and
statistics), scene_question (a service or action request as a question, and its answer),
streaming (text as it comes, cancellation), structured_answer (answers checked against a JSON
Schema), server_probe (is the server up, is the model loaded: warm-up and checks).
"""
