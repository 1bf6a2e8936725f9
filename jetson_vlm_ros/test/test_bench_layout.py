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
The bench's layout (issue 19): no import cycle among bench/ modules, a short driver.

bench/run_bench.py lists the figures, one module each under bench/figures/; the bench names
the package modules it uses in one place (bench/package_modules.py). Read from the source
(AST), and run_bench.py run for its figure list only: no figure is measured here.
"""

import ast
import importlib.util
import json
import os
from pathlib import Path
import subprocess
import sys
from typing import Optional

BENCH_DIR = Path(__file__).resolve().parents[2] / 'bench'
DRIVER_MAX_LINES = 400


def bench_modules(root: Path) -> dict[str, Path]:
    """Return the modules under root by the name the bench imports them with."""
    modules = {}
    for path in sorted(root.rglob('*.py')):
        parts = path.relative_to(root).with_suffix('').parts
        if parts[-1] == '__init__':
            parts = parts[:-1]
        if parts:
            modules['.'.join(parts)] = path
    return modules


def imported_names(path: Path) -> set[str]:
    """Return every module name path imports, anywhere in it (in functions too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            # `from figures import fig01_idle_cpu` imports the submodule too.
            names.update(f'{node.module}.{alias.name}' for alias in node.names)
    return names


def import_graph(root: Path) -> dict[str, set[str]]:
    """Return, for each bench module, the bench modules it imports."""
    modules = bench_modules(root)
    return {name: {imported for imported in imported_names(path) if imported in modules
                   and imported != name}
            for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> Optional[list[str]]:
    """Return one import cycle as a path (first module repeated at the end), or None."""
    done: set[str] = set()
    stack: list[str] = []

    def visit(name: str) -> Optional[list[str]]:
        if name in stack:
            return stack[stack.index(name):] + [name]
        if name in done:
            return None
        stack.append(name)
        for imported in sorted(graph.get(name, ())):
            cycle = visit(imported)
            if cycle:
                return cycle
        stack.pop()
        done.add(name)
        return None

    for name in sorted(graph):
        cycle = visit(name)
        if cycle:
            return cycle
    return None


def test_the_cycle_check_finds_a_cycle_through_a_function_level_import(tmp_path: Path):
    (tmp_path / 'figures').mkdir()
    (tmp_path / 'figures' / '__init__.py').write_text('')
    (tmp_path / 'driver.py').write_text('from figures import fig01\n')
    (tmp_path / 'figures' / 'fig01.py').write_text('import common\n')
    (tmp_path / 'common.py').write_text('def f():\n    from driver import g\n')
    assert find_cycle(import_graph(tmp_path)) == ['common', 'driver', 'figures.fig01',
                                                  'common']
    (tmp_path / 'common.py').write_text('import json\n')
    assert find_cycle(import_graph(tmp_path)) is None


def test_no_import_cycle_among_bench_modules():
    graph = import_graph(BENCH_DIR)
    assert 'run_bench' in graph and 'figures.fig10_gateway' in graph  # the scan saw them
    cycle = find_cycle(graph)
    assert cycle is None, f"bench modules import each other: {' -> '.join(cycle)}"


def test_run_bench_is_a_short_driver():
    lines = len((BENCH_DIR / 'run_bench.py').read_text().splitlines())
    assert lines <= DRIVER_MAX_LINES, (
        f'bench/run_bench.py has {lines} lines (at most {DRIVER_MAX_LINES}): a figure '
        'belongs in a module of its own under bench/figures/')


def test_only_package_modules_py_imports_the_package():
    # So that a change of the package's layout is one table to update (PACKAGE_MODULES).
    offenders = [f'{name}: {imported}' for name, path in bench_modules(BENCH_DIR).items()
                 if name != 'package_modules'
                 for imported in sorted(imported_names(path))
                 if imported.split('.')[0] == 'jetson_vlm_ros']
    assert not offenders, f'import these through bench/package_modules.py: {offenders}'


def test_the_package_modules_the_bench_names_exist():
    spec = importlib.util.spec_from_file_location('bench_package_modules',
                                                  BENCH_DIR / 'package_modules.py')
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    missing = [module for module in table.PACKAGE_MODULES.values()
               if importlib.util.find_spec(module) is None]
    assert not missing, f'bench/package_modules.py names modules that do not exist: {missing}'


def test_run_bench_lists_every_figure_module_without_running_one():
    # run_bench.py as a script, in a process of its own; then what it had imported.
    code = (
        'import json, runpy, sys\n'
        f'sys.path.insert(0, {str(BENCH_DIR)!r})\n'
        "sys.argv = ['run_bench.py', '--list']\n"
        f"runpy.run_path({str(BENCH_DIR / 'run_bench.py')!r}, run_name='__main__')\n"
        "print(json.dumps(sorted(name for name in sys.modules if name.startswith('rclpy') or\n"
        "                        name.startswith('jetson_vlm_ros.ros.vlm_node'))))\n")
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            timeout=120, env={**os.environ, 'PYTHONUNBUFFERED': '1'})
    assert result.returncode == 0, result.stderr
    *listing, loaded = result.stdout.strip().splitlines()
    listed = {line.split()[1] for line in listing}
    modules = {f'figures/{path.name}' for path in (BENCH_DIR / 'figures').glob('fig*.py')}
    assert len(modules) >= 13 and listed == {f'{module}:' for module in modules}
    assert '| figure |' not in result.stdout  # no table: nothing was measured
    assert json.loads(loaded) == []  # neither rclpy nor the node was even imported
    names = [line.split()[0] for line in listing]
    assert len(set(names)) == len(names)

    # Each listed name is one --only takes.
    help_text = subprocess.run(
        [sys.executable, str(BENCH_DIR / 'run_bench.py'), '--help'], capture_output=True,
        text=True, timeout=120, env={**os.environ, 'COLUMNS': '1000'})
    assert help_text.returncode == 0, help_text.stderr
    assert '{' + ','.join(sorted(names)) + '}' in help_text.stdout
