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

"""Start vlm_node on a camera topic: ros2 launch jetson_vlm_ros vlm.launch.py."""

import os

from ament_index_python.packages import get_package_share_directory
from jetson_vlm_ros.ros.fastdds_profile import profile_environment
from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
import yaml

# Launch arguments that, when given, override the same parameter of the params file.
PARAMETER_ARGUMENTS = ('model', 'base_url', 'image_transport', 'gateway_port')
# Launch arguments are strings; these parameters are integers.
INTEGER_ARGUMENTS = ('gateway_port',)


def camera_list(text: str) -> list[str]:
    """Read the cameras argument, a YAML list ('[front, rear]') or one name, into a list."""
    value = yaml.safe_load(text)
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise ValueError(f"cameras:={text!r}: expected a list of names, e.g. '[front, rear]'")
    return value


def _vlm_node(context: LaunchContext) -> list[Node]:
    overrides = {}
    for name in PARAMETER_ARGUMENTS:
        value = LaunchConfiguration(name).perform(context)
        if value:
            overrides[name] = int(value) if name in INTEGER_ARGUMENTS else value
    cameras = camera_list(LaunchConfiguration('cameras').perform(context) or '[]')
    if cameras:  # a string array parameter; an empty list would have no type
        overrides['cameras'] = cameras
    topics = camera_list(LaunchConfiguration('camera_topics').perform(context) or '[]')
    if topics and len(topics) != len(cameras):
        raise ValueError(f'camera_topics names {len(topics)} topics for {len(cameras)} cameras')
    remappings = [('image', LaunchConfiguration('image_topic'))]
    remappings += [(f'{name}/image', topic)  # none when camera_topics is empty
                   for name, topic in zip(cameras, topics, strict=False)]
    # The profile goes into the node's environment only (FASTRTPS_ or FASTDDS_ name, as the
    # distribution's Fast DDS reads it); a path that is not a file stops the launch.
    environment = profile_environment(LaunchConfiguration('fastdds_profile').perform(context))
    return [Node(
        package='jetson_vlm_ros',
        executable='vlm_node',
        name='vlm_node',
        namespace=LaunchConfiguration('namespace'),
        parameters=[LaunchConfiguration('params_file'), overrides],
        remappings=remappings,
        arguments=['--ros-args', '--log-level', LaunchConfiguration('log_level')],
        output='screen',
        emulate_tty=True,
        additional_env=environment or None,
    )]


def generate_launch_description() -> LaunchDescription:
    default_params = os.path.join(
        get_package_share_directory('jetson_vlm_ros'), 'config', 'vlm.yaml')
    return LaunchDescription([
        DeclareLaunchArgument(
            'image_topic', default_value='/camera/image_raw',
            description='sensor_msgs/Image topic to describe (remapped onto `image`)'),
        DeclareLaunchArgument(
            'params_file', default_value=default_params,
            description='YAML file with vlm_node parameters'),
        DeclareLaunchArgument(
            'model', default_value='',
            description='Model name on the VLM server, e.g. gemma3:4b (empty: from params_file)'),
        DeclareLaunchArgument(
            'base_url', default_value='',
            description='OpenAI-compatible API root, e.g. http://localhost:11434/v1 '
                        '(empty: from params_file)'),
        DeclareLaunchArgument(
            'image_transport', default_value='',
            description="'raw' (sensor_msgs/Image on image_topic) or 'compressed' "
                        '(sensor_msgs/CompressedImage on image_topic/compressed); '
                        'empty: from params_file'),
        DeclareLaunchArgument(
            'gateway_port', default_value='',
            description='Port of the OpenAI-compatible HTTP gateway on 127.0.0.1 (see README: '
                        'Gateway), e.g. 8080; 0 turns it off; empty: from params_file'),
        DeclareLaunchArgument(
            'cameras', default_value='',
            description="Named cameras, e.g. '[front, rear]': each subscribes NAME/image "
                        '(see camera_topics); the first is the default camera; empty: one '
                        'camera on image_topic'),
        DeclareLaunchArgument(
            'camera_topics', default_value='',
            description="Topics of the named cameras, same order, e.g. '[/front_camera/"
                        "image_raw, /rear_camera/image_raw]' (remapped onto NAME/image); "
                        'empty: NAME/image as it is'),
        DeclareLaunchArgument(
            'namespace', default_value='',
            description='Namespace for the node, its topics and its service'),
        DeclareLaunchArgument(
            'fastdds_profile', default_value='',
            description='Fast DDS XML profile for the node process, e.g. the installed '
                        'config/fastdds_large_frames.xml for 1080p/4K frames from another '
                        'process (the camera driver must load it too); empty: stock Fast DDS'),
        DeclareLaunchArgument(
            'log_level', default_value='info',
            description='Logging level: debug, info, warn, error or fatal'),
        OpaqueFunction(function=_vlm_node),
    ])
