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
The gateway's status page in a real headless browser (Debian's chromium + chromium-driver).

The page loads, shows the camera frame and a caption, and a typed question gets an answer
that streams in from the loopback server. Skips where chromium, chromedriver or selenium are
missing; under CI (which installs them: .ci/run) it fails instead. Set STATUS_PAGE_SCREENSHOT
to a .png path to keep a screenshot (the README's one was made so).
"""

import http.server
import os
import shutil
import threading
import time

from conftest import (
    free_port, HAVE_ROS, make_image, publishing, requires_ros, running_in_ci, solid, wait_for)
from fake_vlm_server import FakeVlmServer
import pytest

if HAVE_ROS:
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

pytestmark = requires_ros

CHROMIUM = next(filter(None, map(shutil.which, ('chromium', 'chromium-browser'))), None)
CHROMEDRIVER = shutil.which('chromedriver')
try:
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    SELENIUM_ERROR = ''
except ImportError as error:
    SELENIUM_ERROR = str(error)
# The network is closed here: nothing in the browser may try to reach out.
CHROMIUM_FLAGS = ('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
                  '--no-first-run', '--disable-background-networking',
                  '--disable-component-update', '--disable-sync', '--window-size=1200,800')


def missing_browser() -> str:
    """Return what the browser test lacks, or ''."""
    missing = [name for name, found in (('chromium', CHROMIUM), ('chromedriver', CHROMEDRIVER))
               if not found]
    if SELENIUM_ERROR:
        missing.append(f'selenium ({SELENIUM_ERROR})')
    return ', '.join(missing)


@pytest.fixture
def browser(tmp_path):
    missing = missing_browser()
    if missing:
        reason = (f"{missing} not found: install Debian's chromium and chromium-driver "
                  f'(apt-get install chromium chromium-driver; .ci/run does)')
        if running_in_ci():
            pytest.fail(f'CI is set, but {reason}')
        pytest.skip(reason)
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f'--user-data-dir={tmp_path / "chromium-profile"}')
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


PIXELS_JS = """
const image = arguments[0];
const canvas = document.createElement('canvas');
canvas.width = image.naturalWidth; canvas.height = image.naturalHeight;
const context = canvas.getContext('2d');
context.drawImage(image, 0, 0);
return [context.getImageData(2, 2, 1, 1).data,
        context.getImageData(2, canvas.height - 3, 1, 1).data].map((p) => Array.from(p));
"""


def pixel_rows(browser, image) -> tuple:
    """Classify the shown frame's top-left and bottom-left pixels."""
    def kind(rgba):
        red, green, blue = rgba[:3]
        if red > 150 and green < 90 and blue < 90:
            return 'red'
        return 'dark' if max(red, green, blue) < 90 else f'other {rgba}'
    return tuple(kind(p) for p in browser.execute_script(PIXELS_JS, image))


def test_page_shows_frame_caption_and_streams_an_answer(make_harness, browser):
    port = free_port()
    with FakeVlmServer() as server:
        server.state.chunk_delay = 0.15
        harness = make_harness(base_url=server.base_url, caption_period=0.5, gateway_port=port,
                               alert_rules=['Is a person in the doorway?'])
        frame = make_image(solid((200, 40, 40), 640, 480), stamp_sec=3)
        with harness.streaming(frame, rate=10.0):
            browser.get(f'http://127.0.0.1:{port}/')
            image = browser.find_element(By.ID, 'frame')
            wait_for(lambda: browser.execute_script(
                'return arguments[0].complete && arguments[0].naturalWidth', image) == 640,
                20.0, 'the page to show the 640x480 camera frame')
            wait_for(lambda: 'mean_rgb=' in browser.find_element(By.ID, 'frame-caption').text,
                     20.0, 'a caption under the frame')
            assert 'mean_rgb=' in browser.find_element(By.ID, 'captions').text
            # The frame shown carries the last caption drawn on a dark band at its bottom.
            wait_for(lambda: pixel_rows(browser, image) == ('red', 'dark'), 20.0,
                     'the frame with the caption drawn on it')
            assert browser.find_element(By.ID, 'alerts').text == 'Is a person in the doorway?'
            prompt = browser.find_element(By.ID, 'prompt')
            prompt.clear()
            prompt.send_keys('What colour is it?')
            browser.find_element(By.ID, 'send').click()
            answer = browser.find_element(By.ID, 'answer')
            seen = []
            deadline = time.monotonic() + 20.0
            while time.monotonic() < deadline:
                text = answer.text
                if not seen or text != seen[-1]:
                    seen.append(text)
                if text.endswith('prompt=What colour is it?'):
                    break
                time.sleep(0.03)
            if os.environ.get('STATUS_PAGE_SCREENSHOT'):
                browser.save_screenshot(os.environ['STATUS_PAGE_SCREENSHOT'])
    assert seen[-1].startswith('640x480 mean_rgb=') and \
        seen[-1].endswith('prompt=What colour is it?'), seen
    # Streamed: the answer grew word by word on the page, not all at once.
    partial = [text for text in seen[:-1] if text and seen[-1].startswith(text)]
    assert len(partial) >= 2, seen
    streamed = [r for r in server.requests if r.body.get('stream')]
    assert streamed and streamed[-1].body['model'] == 'gemma3:4b'
    assert streamed[-1].image.width == 640


def test_page_shows_a_tile_per_camera_and_asks_the_camera_chosen(make_harness, browser):
    port = free_port()
    with FakeVlmServer() as server:
        harness = make_harness(base_url=server.base_url, caption_period=0.0, gateway_port=port,
                               cameras=['front', 'rear'])

        def camera(name, rgb, width, height):
            return publishing(harness.tester.create_publisher(
                Image, f'{name}/image', qos_profile_sensor_data),
                make_image(solid(rgb, width, height)), 10.0)

        with camera('front', (200, 40, 40), 64, 48), camera('rear', (40, 200, 40), 96, 72):
            browser.get(f'http://127.0.0.1:{port}/')
            # The default camera large, the other one as a tile of its own.
            wait_for(lambda: browser.execute_script(
                "const big = document.getElementById('frame');"
                "const tile = document.querySelector('#cameras [data-camera=\"rear\"] img');"
                'return [big.naturalWidth, tile && tile.complete && tile.naturalWidth]') ==
                [64, 96], 20.0, 'the front frame and a tile with the 96x72 rear frame')
            assert len(browser.find_elements(By.CSS_SELECTOR, '#cameras figure')) == 1
            assert browser.find_element(By.CSS_SELECTOR, '#cameras figcaption').text \
                .startswith(f'rear: {harness.namespace}/rear/image, frame ')
            choice = browser.find_element(By.ID, 'ask-camera')
            assert [o.get_attribute('value') for o in choice.find_elements(
                By.TAG_NAME, 'option')] == ['front', 'rear']
            choice.find_element(By.CSS_SELECTOR, 'option[value="rear"]').click()
            browser.find_element(By.ID, 'send').click()
            answer = browser.find_element(By.ID, 'answer')
            wait_for(lambda: answer.text.endswith('prompt=What do you see?'), 20.0,
                     'the answer about the rear camera')
    asked = server.requests[-1]
    assert (asked.image.width, asked.image.height) == (96, 72)  # the rear camera's frame
    assert asked.body['model'] == 'gemma3:4b'


class OtherSite:
    """A web page on another site (http://localhost:PORT, not 127.0.0.1) that embeds url."""

    def __init__(self, url: str) -> None:
        page = (f'<html><body><img id="frame" src="{url}" '
                f'onload="document.title = \'loaded\'" '
                f'onerror="document.title = \'refused\'"></body></html>').encode()

        class Page(http.server.BaseHTTPRequestHandler):

            def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
                self.send_response(200)
                self.send_header('Content-Type', 'text/html')
                self.send_header('Content-Length', str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Page)
        self.url = f'http://localhost:{self.httpd.server_port}/'
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_another_sites_page_cannot_show_the_camera_frame(make_harness, browser):
    # An <img> sends no Origin; Chromium's Sec-Fetch-Site: cross-site is what the gateway sees.
    port = free_port()
    with FakeVlmServer() as server:
        harness = make_harness(base_url=server.base_url, caption_period=0.0, gateway_port=port)
        frame = make_image(solid((200, 40, 40), 320, 240), stamp_sec=3)
        other = OtherSite(f'http://127.0.0.1:{port}/v1/frame.jpg')
        try:
            with harness.streaming(frame, rate=10.0):
                browser.get(f'http://127.0.0.1:{port}/')  # the gateway's own page shows it
                image = browser.find_element(By.ID, 'frame')
                wait_for(lambda: browser.execute_script(
                    'return arguments[0].complete && arguments[0].naturalWidth', image) == 320,
                    20.0, 'the status page to show the 320x240 frame')
                browser.get(other.url)
                wait_for(lambda: browser.title in ('loaded', 'refused'), 20.0,
                         "the other site's <img> of the frame to load or fail")
                assert browser.title == 'refused'
                assert browser.execute_script(
                    "return document.getElementById('frame').naturalWidth") == 0
        finally:
            other.close()
        assert server.requests == []  # nothing was asked of the model
