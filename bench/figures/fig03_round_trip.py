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
Figure 3 of the bench: describe_scene latency at the client minus the server's own time.

vlm_node as a process on a 1080p camera, the bench as its client (see bench/README.md).
"""

import argparse
import time

from common import median, percentile, Row, verdict
from node_setup import NodeSetup

NAME = 'roundtrip'


def run(args: argparse.Namespace) -> list[Row]:
    """Return the figure's rows."""
    return bench_round_trip(args.calls)


def bench_round_trip(calls: int) -> list[Row]:
    """describe_scene latency at the client minus the server's own time, 1080p frames."""
    import fake_vlm_server
    decode_times: list[float] = []
    original = fake_vlm_server.decode_data_url

    def timed_decode(url: str) -> object:
        start = time.perf_counter()
        try:
            return original(url)
        finally:
            decode_times.append(time.perf_counter() - start)

    fake_vlm_server.decode_data_url = timed_decode
    setup = NodeSetup(0.2)
    try:
        assert setup.client is not None
        setup.client.wait_ready()
        overheads = []
        sizes = set()
        for _ in range(calls):
            decode_times.clear()
            response, seconds = setup.client.call()
            if not response.success:
                raise RuntimeError(response.error)
            sizes.add(response.description.split(' ')[0])
            overheads.append(seconds - 0.2 - sum(decode_times))
    finally:
        setup.close()
        fake_vlm_server.decode_data_url = original
    mid, p95 = median(overheads), percentile(overheads, 0.95)
    return [
        Row(f'3. round-trip overhead, median of {calls} (1920x1080 rgb8, server delay 0.2 s; '
            f'server saw {"/".join(sorted(sizes))})', f'{mid * 1e3:.1f} ms', '0.2 s delay',
            f'{mid / 0.2:.3f} of delay', '<= 15 ms', verdict(mid <= 0.015)),
        Row(f'3. round-trip overhead, p95 of {calls}', f'{p95 * 1e3:.1f} ms', '0.2 s delay',
            f'{p95 / 0.2:.3f} of delay', '<= 40 ms', verdict(p95 <= 0.040)),
    ]
