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


"""Alert rules without ROS: the question, the strict answer check, edges and cooldown."""

import re

from jetson_vlm_ros.alerts.alert_rules import (
    alert_prompt, AlertAnswerError, AlertRuleError, AlertTracker, group_rules,
    parse_answer, rule_cameras, RuleGroup, split_rule)
from jetson_vlm_ros.core.settings import settings_from, SettingsError
import pytest

RULES = ['Is a person in the doorway?', 'Is the door open?']


def test_prompt_numbers_every_rule_and_asks_for_a_json_array():
    prompt = alert_prompt(RULES)
    assert '1. Is a person in the doorway?\n2. Is the door open?' in prompt
    assert 'JSON array of 2 booleans' in prompt


@pytest.mark.parametrize('text, values', [
    ('[true, false]', [True, False]),
    ('  [false,true]\n', [False, True]),
    ('```json\n[true, true]\n```', [True, True]),
    ('```\n[false, false]\n```', [False, False]),
])
def test_well_formed_answers_are_read(text, values):
    assert parse_answer(text, 2) == values


@pytest.mark.parametrize('text', [
    'yes', 'true', '[true]', '[true, false, true]', '[1, 0]', '["yes", "no"]', '[true, null]',
    'Sure! [true, false]', '[true, false] because a person stands there', '{"a": true}',
    '[[true], [false]]', '', '```json\n[true, false]', '[true, false',
])
def test_anything_else_is_refused(text):
    with pytest.raises(AlertAnswerError):
        parse_answer(text, 2)


def test_a_rule_alerts_on_the_edge_and_clears_once():
    tracker = AlertTracker()
    tracker.set_rules(RULES)
    assert tracker.update(RULES, [True, False], 0.0, 0.0) == [(RULES[0], True)]
    assert tracker.update(RULES, [True, False], 1.0, 0.0) == []
    assert tracker.update(RULES, [False, False], 2.0, 0.0) == [(RULES[0], False)]
    assert tracker.update(RULES, [False, False], 3.0, 0.0) == []
    assert tracker.update(RULES, [True, True], 4.0, 0.0) == [(RULES[0], True), (RULES[1], True)]


def test_cooldown_holds_back_a_new_alert_until_it_has_passed():
    tracker = AlertTracker()
    tracker.set_rules(RULES[:1])
    assert tracker.update(RULES[:1], [True], 0.0, 10.0) == [(RULES[0], True)]
    assert tracker.update(RULES[:1], [False], 1.0, 10.0) == [(RULES[0], False)]
    assert tracker.update(RULES[:1], [True], 2.0, 10.0) == []  # within the cooldown
    assert tracker.update(RULES[:1], [True], 9.9, 10.0) == []
    assert tracker.update(RULES[:1], [True], 10.0, 10.0) == [(RULES[0], True)]
    assert tracker.state(RULES[0]).alerts == 2


def test_changing_rules_keeps_the_state_of_rules_that_stay():
    tracker = AlertTracker()
    tracker.set_rules(RULES)
    tracker.update(RULES, [True, False], 0.0, 0.0)
    new_rules = [RULES[0], 'Is the floor wet?']
    tracker.set_rules(new_rules)
    assert tracker.state(RULES[1]) is None
    assert tracker.update(new_rules, [True, True], 1.0, 0.0) == [('Is the floor wet?', True)]
    # An answer to the old rules that arrives after the change touches only current rules.
    assert tracker.update(RULES, [False, True], 2.0, 0.0) == [(RULES[0], False)]
    summary = {row['rule']: row for row in tracker.summary(3.0)}
    assert summary['Is the floor wet?']['active'] is True
    assert summary[RULES[0]] == {'rule': RULES[0], 'active': False, 'observed': False,
                                 'alerts': 1, 'seconds_since_alert': 3.0}


# --- rules naming cameras ------------------------------------------------------------------

CAMERAS = ['front', 'rear', 'left']


def test_a_prefix_names_the_cameras_and_is_not_part_of_the_question():
    assert split_rule('[rear] Is a person behind the robot?') == (
        ('rear',), 'Is a person behind the robot?')
    assert split_rule(' [ front ,rear]Is anyone near? ') == (('front', 'rear'), 'Is anyone near?')
    assert split_rule('Is the door [left side] open?') == (None, 'Is the door [left side] open?')


def test_rule_cameras_in_the_node_s_order_default_and_all():
    assert rule_cameras('Is it dark?', CAMERAS) == ('front',)  # the default camera
    assert rule_cameras('Is it dark?', []) == ()  # the single unnamed camera
    assert rule_cameras('[left, front] Is it dark?', CAMERAS) == ('front', 'left')
    assert rule_cameras('[all] Is it dark?', CAMERAS) == tuple(CAMERAS)


@pytest.mark.parametrize('rule, cameras, problem', [
    ('[top] Is it dark?', CAMERAS,
     "unknown camera 'top': this node's cameras are front, rear, left (or 'all')"),
    ('[front, top, back] Is it dark?', CAMERAS, "unknown camera 'top', 'back'"),
    ('[] Is it dark?', CAMERAS, "unknown camera ''"),
    ('[rear, rear] Is it dark?', CAMERAS, 'camera named twice: rear'),
    ('[all, rear] Is it dark?', CAMERAS, "'all' means every camera: name no other with it"),
    ('[rear]', CAMERAS, 'has no question after its cameras'),
    ('[front] Is it dark?', [], 'this node has no named cameras (cameras parameter)'),
])
def test_rules_naming_cameras_badly_are_refused(rule, cameras, problem):
    with pytest.raises(AlertRuleError, match=re.escape(problem)):
        rule_cameras(rule, cameras)


def test_rules_are_grouped_by_their_cameras_one_call_each():
    rules = ['Is the door open?', '[rear] Is a person behind?', '[rear, front] Anyone near?',
             '[front] Is it dark?', '[all] Is there smoke?', '[rear] Is the ramp down?']
    assert group_rules(rules, CAMERAS) == [
        RuleGroup(('front',), (rules[0], rules[3]), ('Is the door open?', 'Is it dark?')),
        RuleGroup(('rear',), (rules[1], rules[5]), ('Is a person behind?', 'Is the ramp down?')),
        RuleGroup(('front', 'rear'), (rules[2],), ('Anyone near?',)),
        RuleGroup(tuple(CAMERAS), (rules[4],), ('Is there smoke?',)),
    ]
    assert group_rules(RULES, []) == [RuleGroup((), tuple(RULES), tuple(RULES))]


def test_the_prompt_for_several_cameras_says_the_images_are_labelled():
    assert alert_prompt(RULES, 1) == alert_prompt(RULES)
    prompt = alert_prompt(['Anyone near?'], 2)
    assert "about the 2 images (one per camera, each after its camera's name)" in prompt
    assert prompt.endswith('\n1. Anyone near?')


def test_the_parameter_refuses_rules_naming_cameras_the_node_lacks():
    settings = settings_from({'cameras': ['front', 'rear'],
                              'alert_rules': ['[rear] Is a person behind?', 'Is it dark?']})
    assert settings.alert_rules == ('[rear] Is a person behind?', 'Is it dark?')
    with pytest.raises(SettingsError, match=re.escape(
            "invalid value for parameter 'alert_rules': rule '[top] Is it dark?': unknown "
            "camera 'top': this node's cameras are front, rear (or 'all')")):
        settings.updated({'alert_rules': ['[top] Is it dark?']})
    with pytest.raises(SettingsError, match='this node has no named cameras'):
        settings_from({'alert_rules': ['[front] Is it dark?']})
