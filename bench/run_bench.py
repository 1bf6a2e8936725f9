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
The jetson_vlm_ros bench: one command, one Markdown table (see bench/README.md).

Run with `bash scripts/bench.sh` (set-up included) or, in a shell where
`. .venv/bin/activate && . install/setup.bash` ran, `python bench/run_bench.py`.
Every figure is a ratio against a baseline measured in the same run, so that a busy
machine moves both sides.
"""

import argparse
import time
from types import ModuleType
from typing import Callable

import common
from common import Row
from figures import (fig01_idle_cpu, fig02_request_preparation, fig03_round_trip,
                     fig04_overlap, fig05_compressed_input, fig06_frames_held,
                     fig07_streaming_feedback, fig08_caption_image, fig09_diagnostics_cpu,
                     fig10_gateway, fig11_history_cost, fig11_multi_frame_requests,
                     fig13_startup, fig14_cameras)

common.setup_environment()

# The figures, in the table's order (6 before 5, as the table always had them): each module
# has NAME (what --only takes) and run(args) -> rows; its docstring says what it measures.
FIGURE_MODULES: tuple[ModuleType, ...] = (
    fig01_idle_cpu,
    fig02_request_preparation,
    fig03_round_trip,
    fig04_overlap,
    fig06_frames_held,
    fig05_compressed_input,
    fig07_streaming_feedback,
    fig08_caption_image,
    fig09_diagnostics_cpu,
    fig10_gateway,
    fig11_history_cost,
    fig11_multi_frame_requests,
    fig13_startup,
    fig14_cameras,
)
FIGURES: dict[str, Callable[[argparse.Namespace], list[Row]]] = {
    module.NAME: module.run for module in FIGURE_MODULES}


def print_table(rows: list[Row]) -> None:
    """Print the rows as one Markdown table."""
    print('| figure | measured | baseline | ratio | target | pass/fail |')
    print('|---|---|---|---|---|---|')
    for row in rows:
        print(f'| {row.figure} | {row.measured} | {row.baseline} | {row.ratio} | '
              f'{row.target} | {row.verdict} |')


def print_figures() -> None:
    """Print each figure's name (for --only), module and the first line of its docstring."""
    for module in FIGURE_MODULES:
        # The docstring's first paragraph, without its 'Figure N of the bench: ' lead.
        first = ' '.join((module.__doc__ or '').strip().split('\n\n')[0].split())
        summary = first.split(': ', 1)[-1].replace(' (see bench/README.md)', '')
        print(f'{module.NAME:14} {module.__name__.replace(".", "/")}.py: {summary}')


def main() -> None:
    """Run the selected figures and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--only', nargs='*', choices=sorted(FIGURES), default=None)
    parser.add_argument('--list', action='store_true',
                        help='list the figures (name, module, what it measures) and exit')
    parser.add_argument('--idle-seconds', type=float, default=20.0)
    parser.add_argument('--repeat', type=int, default=50, help='timing runs per median')
    parser.add_argument('--calls', type=int, default=100, help='round-trip calls')
    args = parser.parse_args()
    if args.list:
        print_figures()
        return
    started = time.monotonic()
    rows: list[Row] = []
    for name, figure in FIGURES.items():
        if args.only and name not in args.only:
            continue
        try:
            rows += figure(args)
        except Exception as error:  # noqa: B902 - one broken figure must not hide the others
            rows.append(Row(name, f'error: {error}'.replace('\n', ' ')[:300], '-', '-', '-',
                            'FAIL'))
    print_table(rows)
    print(f'\nwall time: {time.monotonic() - started:.0f} s; '
          f'FAIL rows: {sum(r.verdict == "FAIL" for r in rows)}')


if __name__ == '__main__':
    main()
