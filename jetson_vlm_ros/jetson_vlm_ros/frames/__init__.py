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
Camera frames and images, pure Python (no ROS imports).

Public modules: image_conversion (ROS image messages to pixels), image_encoding (pixels to
the JPEG the model gets), frame_history (the recent frames a request may cover),
frame_selection (which of them a request sends), history_preparation (history frames
encoded once, as they will be sent), scene_change (the caption gate), caption_drawing (the
caption drawn on the frame), frame_memory (glibc malloc settings for large frames).
"""
