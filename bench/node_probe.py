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
Run vlm_node exactly as its console script does (vlm_node.main()), and report at exit.

The only addition: when main() destroys the node at shutdown, the node's own frame counter
(`CameraInput.frames_received`, which its image callback increments anyway) is printed as
{"received": N} on stdout. Nothing runs per frame that the real node does not run, so its
CPU use is the real node's.
"""

import json

from package_modules import package_module

vlm_node = package_module('vlm_node')

_original_destroy = vlm_node.VlmNode.destroy_node


def _destroy_and_report(self: 'vlm_node.VlmNode') -> None:
    print(json.dumps({'received': self._camera.frames_received,
                      'cameras': {camera.name: camera.frames_received
                                  for camera in self._cameras.cameras}}), flush=True)
    _original_destroy(self)


vlm_node.VlmNode.destroy_node = _destroy_and_report

if __name__ == '__main__':
    vlm_node.main()
