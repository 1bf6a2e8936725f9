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
Natural-language alert rules, without ROS: the question, the strict answer check, the edges.

A rule may name the cameras it looks at in a prefix: '[rear] Is a person behind the
robot?', '[front, rear] Is anyone near the robot?', '[all] ...' (every camera); a rule
without one looks at the default camera. Rules that look at the same cameras are asked in
one model call (a RuleGroup), which must answer with a JSON array of booleans, one per
rule. Anything else is an AlertAnswerError: the answer is skipped, never read as an
alarm. A rule alerts when it turns true (at most once per cooldown) and clears once when
it turns false again.
"""

from dataclasses import dataclass
import json
import re
from typing import Any, Optional, Sequence

from jetson_vlm_ros.core.camera_choice import camera_choice_problem, chosen_cameras

# '[front, rear] question': the cameras, then the question the model gets.
_CAMERA_PREFIX = re.compile(r'\[([^\]]*)\](.*)', re.DOTALL)


class AlertAnswerError(ValueError):
    """The model's answer is not a JSON array with one boolean per rule."""


class AlertRuleError(ValueError):
    """A rule names cameras the node does not have, or names them badly."""


@dataclass(frozen=True)
class RuleGroup:
    """Rules that look at the same cameras: asked together in one model call."""

    cameras: tuple[str, ...]  # in the node's camera order; () the single unnamed camera
    rules: tuple[str, ...]  # as written in alert_rules (the rule of each Alert)
    questions: tuple[str, ...]  # the rules without their camera prefix, as the model gets them


def split_rule(rule: str) -> tuple[Optional[tuple[str, ...]], str]:
    """Return (the cameras a rule's '[...]' prefix names, or None without one; its question)."""
    prefixed = _CAMERA_PREFIX.fullmatch(rule.strip())
    if prefixed is None:
        return None, rule
    names = tuple(name.strip() for name in prefixed.group(1).split(','))
    return names, prefixed.group(2).strip()


def rule_cameras(rule: str, cameras: Sequence[str]) -> tuple[str, ...]:
    """
    Return the cameras rule looks at, in the order of cameras (the node's); raise AlertRuleError.

    No prefix: the default camera (the first; () on a node without named cameras).
    """
    names, question = split_rule(rule)
    if names is None:
        return tuple(cameras[:1])
    problem = camera_choice_problem(names, cameras)
    if problem:
        hint = ": write it without the '[...]' prefix" if not cameras else ''
        raise AlertRuleError(f'rule {rule!r}: {problem}{hint}')
    if not question:
        raise AlertRuleError(f'rule {rule!r} has no question after its cameras')
    names = chosen_cameras(names, cameras)
    return tuple(name for name in cameras if name in names)


def rules_problem(rules: Sequence[str], cameras: Sequence[str]) -> Optional[str]:
    """Return why rules cannot be asked on a node with these cameras, or None."""
    try:
        group_rules(rules, cameras)
    except AlertRuleError as error:
        return str(error)
    return None


def group_rules(rules: Sequence[str], cameras: Sequence[str]) -> list[RuleGroup]:
    """Group rules by the cameras they look at, groups in order of their first rule."""
    grouped: dict[tuple[str, ...], list[tuple[str, str]]] = {}
    for rule in rules:
        question = split_rule(rule)[1]
        grouped.setdefault(rule_cameras(rule, cameras), []).append((rule, question))
    return [RuleGroup(key, tuple(r for r, _ in members), tuple(q for _, q in members))
            for key, members in grouped.items()]


def alert_prompt(rules: Sequence[str], images: int = 1) -> str:
    """Return the one question that asks every rule about the image (or the images)."""
    numbered = '\n'.join(f'{number}. {rule}' for number, rule in enumerate(rules, 1))
    about = ('the image' if images == 1 else
             f"the {images} images (one per camera, each after its camera's name)")
    return (f'Answer each of these {len(rules)} yes/no questions about {about}. Reply with '
            f'only a JSON array of {len(rules)} booleans (true for yes, false for no), in '
            f'the order of the questions, and nothing else.\n{numbered}')


# Models like to wrap JSON in a Markdown fence; that and nothing else is taken off.
_FENCE = re.compile(r'^```(?:json)?\s*(.*?)\s*```$', re.DOTALL)


def parse_answer(text: str, rule_count: int) -> list[bool]:
    """Return one boolean per rule from the model's answer; raise AlertAnswerError."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1)
    try:
        values = json.loads(stripped)
    except ValueError:
        raise AlertAnswerError(f'not a JSON array: {text[:100]!r}') from None
    if not isinstance(values, list):
        raise AlertAnswerError(f'not a JSON array: {text[:100]!r}')
    if len(values) != rule_count:
        raise AlertAnswerError(f'{len(values)} values for {rule_count} rules: {text[:100]!r}')
    if not all(value is True or value is False for value in values):
        raise AlertAnswerError(f'not all values are true/false: {text[:100]!r}')
    return values


@dataclass
class RuleState:
    """What is known about one rule."""

    active: bool = False  # as last published: True after an alert, until it clears
    observed: Optional[bool] = None  # the model's last answer for it
    last_alert_at: Optional[float] = None  # monotonic time of the last alert
    alerts: int = 0


class AlertTracker:
    """Turns successive answers into alert and clear events, with a cooldown per rule."""

    def __init__(self) -> None:
        self._states: dict[str, RuleState] = {}

    def set_rules(self, rules: Sequence[str]) -> None:
        """Keep the state of rules that stay, start new ones inactive, forget the rest."""
        self._states = {rule: self._states.get(rule, RuleState()) for rule in rules}

    def state(self, rule: str) -> Optional[RuleState]:
        """Return the state of a rule, or None when it is not a current rule."""
        return self._states.get(rule)

    def update(self, rules: Sequence[str], values: Sequence[bool], now: float,
               cooldown: float) -> list[tuple[str, bool]]:
        """Record one answer for rules; return the (rule, active) events to publish."""
        events = []
        for rule, value in zip(rules, values, strict=True):
            state = self._states.get(rule)
            if state is None:
                continue  # the rule was removed while the model was answering
            state.observed = value
            if value and not state.active:
                if state.last_alert_at is not None and now - state.last_alert_at < cooldown:
                    continue  # still true after the cooldown: alerted by a later answer
                state.active, state.last_alert_at = True, now
                state.alerts += 1
                events.append((rule, True))
            elif not value and state.active:
                state.active = False
                events.append((rule, False))
        return events

    def summary(self, now: float) -> list[dict[str, Any]]:
        """Return every rule with its state, for GET /v1/alerts."""
        return [{'rule': rule, 'active': state.active, 'observed': state.observed,
                 'alerts': state.alerts,
                 'seconds_since_alert': None if state.last_alert_at is None
                 else round(now - state.last_alert_at, 3)}
                for rule, state in self._states.items()]
