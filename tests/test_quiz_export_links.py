"""``python -m quiz export --base-url``: every "open in the simulator" link in the GIFT and Moodle XML
exports is absolute under the given address (so it works from inside an LMS); a bad address is refused."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from quiz.cli import main

BASE = "https://batchlab.example.edu/course"


def _links(text: str) -> list[str]:
    return re.findall(r"Open in the simulator: (\S+)\)", text)


def test_moodle_xml_links_are_absolute(tmp_path):
    out = tmp_path / "quiz.xml"
    assert main(["export", "--format", "moodle-xml", "-o", str(out), "--variants", "1", "--base-url", BASE + "/"]) == 0
    texts = [q.findtext("questiontext/text") for q in ET.parse(out).getroot().iter("question")]
    links = [u for t in texts if t for u in _links(t)]
    assert len(links) >= 10
    assert all(u.startswith(BASE + "/") and "//" not in u[len("https://"):] for u in links), links[:3]


def test_gift_links_are_absolute(tmp_path):
    out = tmp_path / "quiz.gift"
    assert main(["export", "--format", "gift", "-o", str(out), "--variants", "1", "--base-url", BASE]) == 0
    text = re.sub(r"\\(.)", r"\1", out.read_text())  # GIFT escapes ':', '=', '#', ...: unescape to read
    links = _links(text)
    assert len(links) >= 10 and all(u.startswith(BASE + "/") for u in links)


def test_without_base_url_links_stay_relative(tmp_path):
    out = tmp_path / "quiz.xml"
    assert main(["export", "--format", "moodle-xml", "-o", str(out), "--variants", "1"]) == 0
    assert all(u.startswith("/") for u in _links(out.read_text()))


@pytest.mark.parametrize("bad", ["ftp://x", "batchlab.example.edu", "https://", "https://h/p?x=1", "https://h/#f",
                                 "https://u:pw@h", "https://h/a b", "javascript:alert(1)", "https://h:99999"])
def test_a_bad_base_url_is_refused(tmp_path, capsys, bad):
    assert main(["export", "--format", "gift", "-o", str(tmp_path / "q.gift"), "--base-url", bad]) == 2
    assert "--base-url" in capsys.readouterr().err
