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
The Markdown pages render and point at what exists.

README.md, doc/*.md and bench/README.md: pymarkdownlnt finds no problem (with the repo's
.pymarkdown; skipped with the reason where pymarkdownlnt is not installed); every relative
link and image path exists, and every #anchor names a heading of its page; no code fence is
followed by text on its closing line (CommonMark then keeps the block open); the parameter
table of doc/ros-api.md is what scripts/update_parameter_doc.py writes from settings.py.
The checks other than the linter need nothing beyond Python.
"""

import importlib.util
from pathlib import Path
import re
import subprocess
import sys
from typing import Iterator

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if not (REPO_ROOT / 'doc').is_dir():
    pytest.skip('the docs are checked from a source checkout (no doc/ beside the package)',
                allow_module_level=True)

PAGES = sorted([*REPO_ROOT.glob('*.md'), *REPO_ROOT.glob('doc/*.md'),
                *REPO_ROOT.glob('bench/*.md'), *REPO_ROOT.glob('jetson_vlm_ros/doc/*.md')])
PAGE_IDS = [str(page.relative_to(REPO_ROOT)) for page in PAGES]

FENCE = re.compile(r'^ {0,3}(`{3,}|~{3,})(.*)$')
# [text](target) and ![alt](target), with an optional "title"; targets without spaces.
LINK = re.compile(r'!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(<?([^)\s>]+)>?(?:\s+"[^"]*")?\)')
INLINE_CODE = re.compile(r'(`+).+?\1')


def prose_lines(text: str, strip_code: bool = True) -> Iterator[tuple[int, str]]:
    """Yield (line number, line) outside fenced code blocks, inline code removed or not."""
    fence = None
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)
        elif fence is not None:
            if match and match.group(1).startswith(fence) and not match.group(2).strip():
                fence = None
        else:
            yield number, INLINE_CODE.sub('', line) if strip_code else line


def fence_problems(text: str) -> list[str]:
    """Return the fence lines that do not close as intended, and a fence left open."""
    problems = []
    fence, opened = None, 0
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line)
        if not match:
            continue
        if fence is None:
            fence, opened = match.group(1), number
        elif match.group(1).startswith(fence[0]) and match.group(2).strip():
            # A closing fence may not carry text: this line does not close the block.
            problems.append(f'line {number}: text after a closing code fence')
        elif match.group(1).startswith(fence):
            fence = None
    if fence is not None:
        problems.append(f'line {opened}: code fence never closed')
    return problems


def heading_anchors(text: str) -> set[str]:
    """Return the anchors GitHub gives the page's headings (first one of a name plain)."""
    anchors: set[str] = set()
    for _, line in prose_lines(text, strip_code=False):
        match = re.match(r'^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$', line)
        if not match:
            continue
        slug = re.sub(r'[^\w\- ]', '', match.group(1).lower()).replace(' ', '-')
        candidate, count = slug, 0
        while candidate in anchors:
            count += 1
            candidate = f'{slug}-{count}'
        anchors.add(candidate)
    return anchors


def link_problems(page: Path) -> list[str]:
    """Return the relative links and images of page whose file or anchor does not exist."""
    text = page.read_text(encoding='utf-8')
    problems = []
    for number, line in prose_lines(text):
        for target in LINK.findall(line):
            if re.match(r'^[a-z][a-z0-9+.-]*:', target, re.IGNORECASE):
                continue  # http:, https:, mailto:: not checked offline
            path_part, _, anchor = target.partition('#')
            linked = (page.parent / path_part).resolve() if path_part else page
            if not linked.exists():
                problems.append(f'line {number}: {target}: no such file')
            elif anchor and linked.suffix == '.md' and anchor not in heading_anchors(
                    linked.read_text(encoding='utf-8')):
                problems.append(f'line {number}: {target}: no heading with that anchor')
    return problems


def load_parameter_script():
    path = REPO_ROOT / 'scripts' / 'update_parameter_doc.py'
    spec = importlib.util.spec_from_file_location('update_parameter_doc', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_pages_exist():
    names = set(PAGE_IDS)
    for page in ('README.md', 'doc/ros-api.md', 'doc/gateway.md', 'doc/large-frames.md',
                 'doc/performance.md', 'doc/reliability.md', 'doc/no-ros-setup.md',
                 'doc/troubleshooting.md', 'doc/architecture.md'):
        assert page in names, page


def test_readme_is_short_and_links_every_doc_page():
    readme = (REPO_ROOT / 'README.md').read_text(encoding='utf-8')
    assert len(readme.splitlines()) <= 300
    for page in REPO_ROOT.glob('doc/*.md'):
        assert f'](doc/{page.name}' in readme, f'README.md does not link doc/{page.name}'


@pytest.mark.parametrize('page', PAGES, ids=PAGE_IDS)
def test_relative_links_and_images_exist(page):
    assert link_problems(page) == []


@pytest.mark.parametrize('page', PAGES, ids=PAGE_IDS)
def test_code_fences_close(page):
    assert fence_problems(page.read_text(encoding='utf-8')) == []


def test_the_checks_catch_what_they_name(tmp_path):
    (tmp_path / 'there.md').write_text('# A heading\n', encoding='utf-8')
    page = tmp_path / 'page.md'
    page.write_text(
        '# Title\n\n[ok](there.md#a-heading) [gone](missing.md) ![x](missing.png)\n'
        '[bad anchor](there.md#nope) [self](#title) `[code](not-a-link.md)`\n\n'
        '```bash\nls\n``` then text\n\n## Later\n\n```\n\n```\nnever closed\n', encoding='utf-8')
    assert link_problems(page) == [
        'line 3: missing.md: no such file', 'line 3: missing.png: no such file',
        'line 4: there.md#nope: no heading with that anchor']
    assert fence_problems(page.read_text(encoding='utf-8')) == [
        # Line 12 closes the block line 8 failed to close; line 14 opens one.
        'line 8: text after a closing code fence', 'line 14: code fence never closed']


def test_parameter_table_is_generated_from_settings():
    script = load_parameter_script()
    page = (REPO_ROOT / 'doc' / 'ros-api.md').read_text(encoding='utf-8')
    assert script.with_table(page, script.render_table()) == page, (
        'doc/ros-api.md is stale: run python3 scripts/update_parameter_doc.py')
    for spec in script.load_parameters():
        assert f'| `{spec.name}` |' in page, spec.name


def test_a_stale_parameter_page_fails_the_check(tmp_path):
    script = load_parameter_script()
    stale = tmp_path / 'ros-api.md'
    page = (REPO_ROOT / 'doc' / 'ros-api.md').read_text(encoding='utf-8')
    row = '| `max_tokens` | int | `128` |'
    assert row in page
    stale.write_text(page.replace(row, '| `max_tokens` | int | `64` |'), encoding='utf-8')
    assert script.main(['--check', '--page', str(stale)]) == 1
    assert script.main(['--page', str(stale)]) == 0
    assert stale.read_text(encoding='utf-8') == page


def test_markdown_lint():
    if importlib.util.find_spec('pymarkdown') is None:
        pytest.skip('pymarkdownlnt (the Markdown linter) is not installed in this lane; it is '
                    'in scripts/requirements.lock (the kilted lane)')
    result = subprocess.run(
        [sys.executable, '-m', 'pymarkdown', '--config', str(REPO_ROOT / '.pymarkdown'),
         'scan', *map(str, PAGES)],
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
