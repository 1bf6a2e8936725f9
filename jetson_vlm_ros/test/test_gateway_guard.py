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

"""The gateway's Host, Origin and content-type checks as plain functions (no server)."""

from jetson_vlm_ros.core.settings import DEFAULT_SETTINGS, SettingsError
from jetson_vlm_ros.gateway.gateway_guard import (
    Admission, content_type_refusal, cors_headers, fetch_site_refusal, guard_policy,
    host_entry_problem, host_refusal, machine_names, origin_entry_problem, origin_key,
    origin_verdict, preflight_headers, Refusal, screen, split_host)
import pytest

LOOPBACK = guard_policy('127.0.0.1', (), ())
MACHINE = ('jetson', 'jetson.local')
EVERYWHERE = guard_policy('0.0.0.0', (), (), MACHINE)


@pytest.mark.parametrize('header, expected', [
    ('localhost', ('localhost', None)),
    ('LocalHost:8080', ('localhost', 8080)),
    ('localhost.:8080', ('localhost', 8080)),
    ('127.0.0.1:1', ('127.0.0.1', 1)),
    ('[::1]', ('::1', None)),
    ('[::1]:8080', ('::1', 8080)),
    ('[0:0:0:0:0:0:0:1]:80', ('::1', 80)),
    ('robot-1.lan:65535', ('robot-1.lan', 65535)),
])
def test_host_headers_split_into_a_normal_name_and_port(header, expected):
    assert split_host(header) == expected


@pytest.mark.parametrize('header', [
    '', ' localhost', 'localhost ', '::1', '[::1', '[::1]x', '[localhost]:80', 'a:b', 'a:',
    'a:65536', 'a:-1', 'evil.example/x', 'user@localhost', 'a..b', '-a', 'l\u0131calhost'])
def test_malformed_host_headers_split_into_nothing(header):
    assert split_host(header) is None


@pytest.mark.parametrize('host', [
    'localhost', 'localhost:8080', 'LOCALHOST:1', '127.0.0.1:8080', '127.0.0.1', '[::1]:8080',
    '[::1]'])
def test_loopback_names_are_own_on_loopback(host):
    assert host_refusal(host, LOOPBACK) is None


@pytest.mark.parametrize('host', [
    'evil.example', 'evil.example:8080', 'localhost.evil.example', '127.0.0.1.evil.example',
    'jetson', 'jetson.local', '10.0.0.5', '127.0.0.2', '[fe80::1]', '::1', 'localhost:99999',
    'evil.example\r\nX: y'])
def test_other_hosts_are_refused_on_loopback_with_421(host):
    refusal = host_refusal(host, LOOPBACK)
    assert refusal is not None and refusal.status == 421
    assert 'gateway_allowed_hosts' in refusal.message


@pytest.mark.parametrize('header', [None, ''])
def test_missing_host_is_refused(header):
    refusal = host_refusal(header, LOOPBACK)
    assert refusal is not None and refusal.status == 421 and 'no Host' in refusal.message


def test_the_bound_address_and_listed_names_are_own():
    policy = guard_policy('192.168.1.20', ('Robot.LAN', 'fd00::7', '[fd00::8]'), (), MACHINE)
    for host in ('192.168.1.20:8080', 'robot.lan', 'ROBOT.lan:1', '[fd00::7]', '[fd00::8]:80',
                 'localhost', 'jetson.local:8080'):
        assert host_refusal(host, policy) is None, host
    assert host_refusal('evil.example', policy) is not None
    named = guard_policy('jetson.lan', (), ())
    assert host_refusal('jetson.lan:8080', named) is None
    assert host_refusal('evil.lan:8080', named) is not None


def test_serving_other_machines_adds_the_machine_names_and_any_address():
    for host in ('jetson:8080', 'jetson.local', '192.168.1.20:8080', '10.1.2.3', '[fe80::1]',
                 '[2001:db8::5]:8080', 'localhost'):
        assert host_refusal(host, EVERYWHERE) is None, host
    for host in ('evil.example', 'jetson.evil.example', 'other.local', '192.168.1.20.nip.io'):
        assert host_refusal(host, EVERYWHERE) is not None, host
    # On loopback the machine's names reach nothing (they resolve to 127.0.1.1): not own.
    assert host_refusal('jetson', guard_policy('127.0.0.1', (), (), MACHINE)) is not None
    assert guard_policy('::', (), (), MACHINE).any_address
    assert not guard_policy('::1', (), (), MACHINE).any_address
    assert not guard_policy('localhost', (), (), MACHINE).any_address


def test_machine_names_are_normal_host_names():
    names = machine_names()
    assert all(split_host(name) == (name, None) for name in names)
    assert not names or names[-1].endswith('.local')


@pytest.mark.parametrize('origin, key', [
    ('http://localhost:3000', ('http', 'localhost', 3000)),
    ('HTTP://LocalHost:3000', ('http', 'localhost', 3000)),
    ('http://robot.lan', ('http', 'robot.lan', 80)),
    ('https://robot.lan', ('https', 'robot.lan', 443)),
    ('http://[::1]:8080', ('http', '::1', 8080)),
])
def test_origins_compare_by_scheme_host_and_port(origin, key):
    assert origin_key(origin) == key


@pytest.mark.parametrize('origin', [
    'null', '*', '', 'localhost:3000', 'file://', 'ftp://robot.lan', 'http://', 'http://a/',
    'http://a/path', 'http://a?q', 'http://a#f', 'http://u@a', 'http://a:99999', ' http://a',
    'http://a b', 'http://evil.example http://localhost:3000'])
def test_what_is_no_origin(origin):
    assert origin_key(origin) is None


def test_absent_and_own_origins_are_admitted_without_cors():
    assert origin_verdict(None, '127.0.0.1:8080', LOOPBACK) == Admission()
    assert origin_verdict('http://127.0.0.1:8080', '127.0.0.1:8080', LOOPBACK) == Admission()
    assert origin_verdict('http://localhost:8080', 'LOCALHOST:8080', LOOPBACK) == Admission()
    assert origin_verdict('http://[::1]:8080', '[::1]:8080', LOOPBACK) == Admission()
    assert origin_verdict('http://localhost', 'localhost:80', LOOPBACK) == Admission()


@pytest.mark.parametrize('origin, host', [
    ('http://evil.example', '127.0.0.1:8080'),
    ('null', '127.0.0.1:8080'),
    ('http://localhost:3000', '127.0.0.1:8080'),  # another port is another origin
    ('http://localhost:3000', 'localhost:8080'),
    ('https://127.0.0.1:8080', '127.0.0.1:8080'),  # another scheme too
    ('http://127.0.0.1:8080', 'localhost:8080'),  # and another name
    ('http://1.2.3.4:8080', '127.0.0.1:8080'),  # an address is not own by being an address
    ('garbage', '127.0.0.1:8080'),
])
def test_other_origins_are_refused_with_403(origin, host):
    for policy in (LOOPBACK, EVERYWHERE):
        verdict = origin_verdict(origin, host, policy)
        assert isinstance(verdict, Refusal) and verdict.status == 403
        assert 'gateway_allowed_origins' in verdict.message


def test_listed_origins_are_admitted_with_their_cors_origin():
    policy = guard_policy('127.0.0.1', (), ('http://localhost:3000', 'https://ui.robot.lan'))
    assert origin_verdict('http://localhost:3000', '127.0.0.1:8080', policy) == \
        Admission(cors_origin='http://localhost:3000')
    assert origin_verdict('https://ui.robot.lan:443', '127.0.0.1:8080', policy) == \
        Admission(cors_origin='https://ui.robot.lan:443')
    for other in ('http://localhost:3001', 'http://ui.robot.lan', 'null'):
        assert isinstance(origin_verdict(other, '127.0.0.1:8080', policy), Refusal), other


@pytest.mark.parametrize('content_type', [
    'application/json', 'application/json; charset=utf-8', 'Application/JSON;charset="UTF-8"',
    'application/json ; charset=utf8'])
def test_json_bodies_are_admitted(content_type):
    assert content_type_refusal(content_type, has_body=True) is None


@pytest.mark.parametrize('content_type', [
    None, '', 'text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x', 'application/json; charset=latin-1',
    'application/jsonx', 'text/json', 'application/json, text/plain'])
def test_other_bodies_are_refused_with_415(content_type):
    refusal = content_type_refusal(content_type, has_body=True)
    assert refusal is not None and refusal.status == 415
    assert 'application/json' in refusal.message


def test_requests_without_a_body_need_no_content_type():
    for content_type in (None, 'text/plain', 'application/x-www-form-urlencoded'):
        assert content_type_refusal(content_type, has_body=False) is None


def test_screen_checks_host_then_origin_then_content_type():
    def status(method, host, origin, content_type, has_body=True):
        verdict = screen(method, host, origin, content_type, has_body, LOOPBACK)
        return verdict.status if isinstance(verdict, Refusal) else 'ok'

    assert status('POST', 'evil.example', 'http://evil.example', 'text/plain') == 421
    assert status('POST', 'localhost', 'http://evil.example', 'text/plain') == 403
    assert status('POST', 'localhost', None, 'text/plain') == 415
    assert status('POST', 'localhost', None, None) == 415
    assert status('POST', 'localhost', None, 'application/json') == 'ok'
    assert status('GET', 'localhost:1', None, None, has_body=False) == 'ok'
    assert status('DELETE', 'localhost:1', None, None, has_body=False) == 'ok'
    assert status('DELETE', 'evil.example', None, None, has_body=False) == 421
    assert status('OPTIONS', 'localhost', 'http://evil.example', None, has_body=False) == 403
    listed = guard_policy('127.0.0.1', (), ('http://localhost:3000',))
    assert screen('OPTIONS', 'localhost', 'http://localhost:3000', None, False, listed) == \
        Admission('http://localhost:3000')


@pytest.mark.parametrize('method, site, mode, listed, refused', [
    ('GET', None, None, False, False),  # curl, the openai client, an old browser
    ('GET', 'same-origin', 'no-cors', False, False),  # the status page's <img>
    ('GET', 'none', 'navigate', False, False),  # typed in the address bar
    ('GET', 'cross-site', 'navigate', False, False),  # a link from another site
    ('HEAD', 'Cross-Site', 'Navigate', False, False),
    ('GET', 'cross-site', 'no-cors', False, True),  # another site's <img>
    ('GET', 'same-site', 'no-cors', False, True),  # a page on another port of localhost
    ('POST', 'cross-site', 'navigate', False, True),  # a form posted from another site
    ('POST', 'same-site', 'cors', True, False),  # a listed origin's fetch()
    ('GET', 'same-site', 'no-cors', True, False),
])
def test_fetch_site_refuses_other_sites_pages(method, site, mode, listed, refused):
    refusal = fetch_site_refusal(method, site, mode, listed)
    assert (refusal is not None) == refused
    if refused:
        assert refusal.status == 403 and f'Sec-Fetch-Site: {site}' in refusal.message


def test_screen_checks_fetch_site_after_origin():
    def status(origin, fetch_site, policy=LOOPBACK):
        verdict = screen('GET', 'localhost', origin, None, False, policy, fetch_site, 'no-cors')
        return verdict.status if isinstance(verdict, Refusal) else 'ok'

    assert status(None, 'cross-site') == 403
    assert status(None, 'same-origin') == 'ok'
    listed = guard_policy('127.0.0.1', (), ('http://localhost:3000',))
    assert status('http://localhost:3000', 'same-site', listed) == 'ok'
    assert status('http://localhost:3001', 'same-site', listed) == 403


def test_cors_headers_name_the_origin_never_a_wildcard():
    origin = 'http://localhost:3000'
    assert cors_headers(origin)['Access-Control-Allow-Origin'] == origin
    answer = preflight_headers(origin, 'authorization, content-type, x-stainless-os')
    assert answer['Access-Control-Allow-Origin'] == origin
    assert answer['Access-Control-Allow-Headers'] == 'authorization, content-type, x-stainless-os'
    assert 'POST' in answer['Access-Control-Allow-Methods']
    for odd in (None, '', 'a\r\nSet-Cookie: x', 'a b'):
        assert preflight_headers(origin, odd)['Access-Control-Allow-Headers'] == \
            'Authorization, Content-Type'


def test_parameter_entries_are_validated():
    assert host_entry_problem('robot.lan') is None
    assert host_entry_problem('fd00::1') is None and host_entry_problem('[fd00::1]') is None
    for bad in ('robot.lan:8080', 'http://robot.lan', '', 'a b', '*'):
        assert 'robot.lan' in host_entry_problem(bad), bad
    assert origin_entry_problem('http://localhost:3000') is None
    for bad in ('*', 'null', 'localhost:3000', 'http://localhost:3000/', ''):
        assert 'http://localhost:3000' in origin_entry_problem(bad), bad


def test_settings_refuse_bad_entries_naming_the_parameter():
    settings = DEFAULT_SETTINGS.updated({'gateway_allowed_hosts': ['robot.lan'],
                                         'gateway_allowed_origins': ['http://localhost:3000']})
    assert settings.gateway_allowed_hosts == ('robot.lan',)
    assert settings.gateway_allowed_origins == ('http://localhost:3000',)
    with pytest.raises(SettingsError, match=r"'gateway_allowed_hosts': 'robot.lan:1' is not"):
        DEFAULT_SETTINGS.updated({'gateway_allowed_hosts': ['robot.lan:1']})
    with pytest.raises(SettingsError, match=r"'gateway_allowed_origins': '\*' is not an origin"):
        DEFAULT_SETTINGS.updated({'gateway_allowed_origins': ['*']})
    with pytest.raises(SettingsError, match="'gateway_allowed_origins': must be a list of str"):
        DEFAULT_SETTINGS.updated({'gateway_allowed_origins': [3]})
