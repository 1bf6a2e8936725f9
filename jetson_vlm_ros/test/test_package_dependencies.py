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
package.xml declares exactly what the code imports, so rosdep installs all of it.

Every import of the package (node, launch file) must be a `depend`/`exec_depend`, every
import of the tests one of those or a `test_depend`; every declared key must be imported.
A ROS package's key is its name; a Python library's key is in PYTHON_KEYS.
"""

import ast
import pathlib
import sys
from typing import Iterable
import xml.etree.ElementTree as ElementTree

PACKAGE_ROOT = pathlib.Path(__file__).resolve().parents[1]

# rosdep keys of the Python libraries the code imports (rosdistro's rosdep/python.yaml).
PYTHON_KEYS = {
    'aiohttp': 'python3-aiohttp',
    'cv2': 'python3-opencv',
    'jsonschema': 'python3-jsonschema',
    'numpy': 'python3-numpy',
    'openai': 'python3-openai-pip',
    'psutil': 'python3-psutil',
    'pytest': 'python3-pytest',
    'selenium': 'python3-selenium',
    'yaml': 'python3-yaml',
    'PIL': 'python3-pil',
}
# Imports that need no key of their own, and why.
NO_KEY_NEEDED = {
    # Reached only with openai < 1.17, whose HTTP library it is (python3-openai-pip brings it).
    'httpx': 'python3-openai-pip',
    # The openai client's own types are pydantic models (the Responses tests build on them).
    'pydantic': 'python3-openai-pip',
    # test_xmllint's fallback where ament_xmllint (a test_depend) is missing.
    'catkin_pkg': 'ament_xmllint',
    # setup.py: the ament_python build type itself.
    'setuptools': None,
}
EXEC_TAGS = ('depend', 'exec_depend')
TEST_TAGS = EXEC_TAGS + ('test_depend',)


def imported_modules(paths: Iterable[pathlib.Path]) -> dict[str, set[str]]:
    """Return {top-level module: files importing it} for every absolute import in paths."""
    found: dict[str, set[str]] = {}
    for path in paths:
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split('.')[0], set()).add(
                    str(path.relative_to(PACKAGE_ROOT)))
    return found


def declared(tags: tuple[str, ...]) -> set[str]:
    """Return the keys package.xml declares under any of tags."""
    root = ElementTree.parse(PACKAGE_ROOT / 'package.xml').getroot()
    return {element.text.strip() for tag in tags for element in root.findall(tag)}


def local_modules() -> set[str]:
    """Return the modules this package provides itself (the package, the tests' helpers)."""
    return {'jetson_vlm_ros'} | {path.stem for path in (PACKAGE_ROOT / 'test').glob('*.py')}


def required_keys(modules: Iterable[str]) -> dict[str, str]:
    """Return {module: rosdep key} for the modules that need one."""
    skip = set(sys.stdlib_module_names) | local_modules() | set(NO_KEY_NEEDED)
    return {module: PYTHON_KEYS.get(module, module) for module in modules if module not in skip}


def sources_of_package() -> list[pathlib.Path]:
    return (sorted((PACKAGE_ROOT / 'jetson_vlm_ros').rglob('*.py'))
            + sorted((PACKAGE_ROOT / 'launch').glob('*.py')))


def sources_of_tests() -> list[pathlib.Path]:
    return sorted((PACKAGE_ROOT / 'test').glob('*.py')) + [PACKAGE_ROOT / 'setup.py']


def missing(imports: dict[str, set[str]], keys: set[str]) -> list[str]:
    return [f'{key} (imported as {module} by {", ".join(sorted(imports[module]))})'
            for module, key in sorted(required_keys(imports).items()) if key not in keys]


def test_every_import_of_the_package_is_a_run_dependency():
    undeclared = missing(imported_modules(sources_of_package()), declared(EXEC_TAGS))
    assert not undeclared, (
        'package.xml lacks a <depend> or <exec_depend> for: ' + '; '.join(undeclared)
        + ' (a Python library: add its rosdep key, and the module to PYTHON_KEYS here)')


def test_every_import_of_the_tests_is_declared():
    undeclared = missing(imported_modules(sources_of_tests()), declared(TEST_TAGS))
    assert not undeclared, (
        'package.xml lacks a <test_depend> (or run dependency) for: ' + '; '.join(undeclared))


def test_every_run_dependency_is_imported_by_the_package():
    used = set(required_keys(imported_modules(sources_of_package())).values())
    unused = sorted(declared(EXEC_TAGS) - used)
    assert not unused, (
        f'package.xml declares {unused} as run dependencies, but no module of the package '
        'imports them: drop them, or make them <test_depend> if only the tests use them')


def test_every_test_dependency_is_imported_by_the_tests():
    used = set(required_keys(imported_modules(sources_of_tests())).values())
    unused = sorted(declared(('test_depend',)) - used)
    assert not unused, f'package.xml declares {unused} as test_depend, but no test imports them'


def test_the_scan_sees_imports_inside_functions_and_fallbacks():
    # The node imports cv_bridge inside a function and the launch file imports
    # ament_index_python: both must be found, or the checks above prove nothing.
    imports = imported_modules(sources_of_package())
    assert 'cv_bridge' in imports
    assert 'launch/vlm.launch.py' in imports['ament_index_python']
    assert {'rclpy', 'openai', 'numpy'} <= set(imports)
