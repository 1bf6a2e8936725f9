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
Figure 4 of the bench: describe_scene throughput of 4 clients vs the ideal.

With max_concurrent_requests 4, and with 1, which must serialise (see bench/README.md).
"""

import argparse
import threading
import time

from common import Row, verdict
from node_setup import NodeSetup

NAME = 'overlap'


def run(args: argparse.Namespace) -> list[Row]:
    """Return the figure's rows."""
    return bench_overlap(40)


def throughput(limit: int, total: int, clients: int = 4, delay: float = 0.5) -> float:
    """Successful describe_scene calls per second with `clients` callers retrying when busy."""
    setup = NodeSetup(delay, clients, 1920, 1080, 10.0, f'max_concurrent_requests:={limit}')
    try:
        assert setup.client is not None
        setup.client.wait_ready()
        lock = threading.Lock()
        state = {'ok': 0, 'busy': 0}
        errors: list[str] = []

        def caller(index: int) -> None:
            while True:
                with lock:
                    if state['ok'] >= total:
                        return
                response, _ = setup.client.call(index)
                with lock:
                    if response.success:
                        state['ok'] += 1
                    elif response.error.startswith('busy'):
                        state['busy'] += 1
                    else:
                        errors.append(response.error)
                        return
                if not response.success:
                    time.sleep(0.02)

        threads = [threading.Thread(target=caller, args=(i,)) for i in range(clients)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - start
        if errors:
            raise RuntimeError(errors[0])
        return state['ok'] / elapsed
    finally:
        setup.close()


def bench_overlap(total: int) -> list[Row]:
    """4 clients, server 0.5 s: throughput vs the ideal 8 calls/s, limit 4 and limit 1."""
    ideal = 4 / 0.5
    four = throughput(4, total)
    one = throughput(1, total // 2)
    return [
        Row(f'4. overlap: {total} calls, 4 clients, max_concurrent_requests 4, server 0.5 s',
            f'{four:.2f} calls/s', f'{ideal:g} calls/s (ideal)', f'{four / ideal:.2f}',
            '>= 0.9', verdict(four / ideal >= 0.9)),
        Row(f'4. same with max_concurrent_requests 1 ({total // 2} calls): must serialise',
            f'{one:.2f} calls/s', f'{ideal:g} calls/s (ideal)', f'{one / ideal:.2f}',
            '~0.25 (0.2-0.27)', verdict(0.2 <= one / ideal <= 0.27)),
    ]
