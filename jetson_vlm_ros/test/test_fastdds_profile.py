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

"""The shipped Fast DDS profile, and the variable that loads it on each distribution."""

import os
import sys
import xml.etree.ElementTree as ElementTree

from jetson_vlm_ros.ros.fastdds_profile import (
    installed_fast_dds_major, load_package_profile_unless_set, package_profile,
    profile_environment)
import pytest

PROFILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       'config', 'fastdds_large_frames.xml')
NAMESPACE = '{http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles}'


@pytest.mark.parametrize('distro', ['humble', 'jazzy', 'Humble'])
def test_fast_dds_2_distributions_get_the_fastrtps_name(distro: str) -> None:
    # Fast DDS 2.x (Humble 2.6, Jazzy 2.14) reads no other name.
    assert profile_environment(PROFILE, distro) == {'FASTRTPS_DEFAULT_PROFILES_FILE': PROFILE}


@pytest.mark.parametrize('distro', ['kilted', 'rolling'])
def test_fast_dds_3_distributions_get_the_fastdds_name(distro: str) -> None:
    # Fast DDS 3.x reads only the new name; Kilted's rmw warns that the old one is deprecated.
    assert profile_environment(PROFILE, distro) == {'FASTDDS_DEFAULT_PROFILES_FILE': PROFILE}


def test_distribution_defaults_to_ros_distro(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('ROS_DISTRO', 'jazzy')
    assert list(profile_environment(PROFILE)) == ['FASTRTPS_DEFAULT_PROFILES_FILE']
    monkeypatch.delenv('ROS_DISTRO')
    # No ROS_DISTRO (ROS 2 from PyPI wheels): the Fast DDS installed here decides.
    expected = {2: 'FASTRTPS_DEFAULT_PROFILES_FILE', 3: 'FASTDDS_DEFAULT_PROFILES_FILE'}
    assert list(profile_environment(PROFILE)) == [expected[installed_fast_dds_major()]]


@pytest.mark.parametrize('layout, major', [
    ((['fastdds'], ['fastrtps']), 3),  # the first prefix that has one decides
    (([], ['fastrtps']), 2),
    ((['fastrtps'], []), 2),
    (([], ['fastdds']), 3),
    (([], []), 3),  # none: the newest
])
def test_the_installed_fast_dds_is_told_by_its_cmake_package(tmp_path, layout, major) -> None:
    prefixes = []
    for n, packages in enumerate(layout):
        prefix = tmp_path / f'prefix{n}'
        for package in packages:
            (prefix / 'share' / package).mkdir(parents=True)
        (prefix / 'share').mkdir(parents=True, exist_ok=True)
        (prefix / 'share' / 'fastdds_static_discovery.xsd').write_text('')  # Jazzy has it
        prefixes.append(str(prefix))
    assert installed_fast_dds_major(prefixes) == major


def test_empty_profile_means_stock_fast_dds() -> None:
    assert profile_environment('', 'humble') == {}


def test_a_profile_that_is_not_a_file_is_refused_by_name(tmp_path) -> None:
    missing = str(tmp_path / 'no_such_profile.xml')
    with pytest.raises(FileNotFoundError, match='no_such_profile.xml'):
        profile_environment(missing, 'jazzy')


def test_shipped_profile_holds_a_4k_frame_in_shared_memory_and_keeps_udp() -> None:
    root = ElementTree.parse(PROFILE).getroot()
    descriptors = {d.findtext(f'{NAMESPACE}transport_id'): d
                   for d in root.iter(f'{NAMESPACE}transport_descriptor')}
    kinds = {d.findtext(f'{NAMESPACE}type') for d in descriptors.values()}
    assert kinds == {'SHM', 'UDPv4'}  # UDP: discovery and other hosts
    shm = next(d for d in descriptors.values() if d.findtext(f'{NAMESPACE}type') == 'SHM')
    assert int(shm.findtext(f'{NAMESPACE}segment_size')) >= 2 * 3840 * 2160 * 3
    participant = root.find(f'{NAMESPACE}profiles/{NAMESPACE}participant')
    assert participant.get('is_default_profile') == 'true'
    used = [t.text for t in participant.iter(f'{NAMESPACE}transport_id')]
    assert sorted(used) == sorted(descriptors)
    assert participant.findtext(f'{NAMESPACE}rtps/{NAMESPACE}useBuiltinTransports') == 'false'


def test_package_profile_is_found_in_the_source_tree_without_ament_index(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, 'ament_index_python', None)  # import fails: no ROS env
    monkeypatch.setitem(sys.modules, 'ament_index_python.packages', None)
    assert package_profile() == os.path.abspath(PROFILE)


def test_package_profile_is_the_shipped_one() -> None:
    found = package_profile()
    assert found is not None and found.endswith(os.path.join('config', 'fastdds_large_frames.xml'))
    with open(found) as shipped, open(PROFILE) as source:  # the installed copy, or the source
        assert shipped.read() == source.read()


@pytest.mark.parametrize('distro, name', [('jazzy', 'FASTRTPS_DEFAULT_PROFILES_FILE'),
                                          ('kilted', 'FASTDDS_DEFAULT_PROFILES_FILE')])
def test_package_profile_is_loaded_when_no_profile_is_set(distro: str, name: str) -> None:
    environ = {'ROS_DISTRO': distro}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv('ROS_DISTRO', distro)
        loaded = load_package_profile_unless_set(environ)
    assert loaded == package_profile()
    assert environ == {'ROS_DISTRO': distro, name: loaded}


@pytest.mark.parametrize('name', ['FASTRTPS_DEFAULT_PROFILES_FILE',
                                  'FASTDDS_DEFAULT_PROFILES_FILE'])
@pytest.mark.parametrize('value', ['/my/profile.xml', ''])
def test_a_profile_the_user_set_is_kept(name: str, value: str) -> None:
    environ = {name: value}
    assert load_package_profile_unless_set(environ) is None
    assert environ == {name: value}
