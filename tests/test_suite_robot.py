"""The Robot Framework library: keywords in lab words, documented, one per flow call."""

from __future__ import annotations

import subprocess
import sys

from harness.robot import PosrigLibrary

LAB_WORDS = {"Sign In", "Sale", "Host Will Decline Next Sale With", "Receipt Should Match",
             "Host Should Agree With", "Power Cycle Terminal", "Restore Bench", "Log In Operator",
             "Sale Cut By Power Loss", "Restore Power", "Refund Last Sale", "Reprint Slip"}


def test_library_offers_its_keywords_in_lab_words():
    names = {name.replace("_", " ").title() for name in PosrigLibrary().get_keyword_names()}
    missing = {w for w in LAB_WORDS if w.title() not in names}
    assert not missing, f"keywords missing: {sorted(missing)}; the library has {sorted(names)}"


def test_every_keyword_is_documented_and_libdoc_builds(tmp_path):
    library = PosrigLibrary()
    undocumented = [n for n in library.get_keyword_names()
                    if not library.get_keyword_documentation(n).strip()]
    assert not undocumented, f"keywords without documentation: {undocumented}"
    html = tmp_path / "PosrigLibrary.html"
    done = subprocess.run([sys.executable, "-m", "robot.libdoc", "harness.robot.PosrigLibrary",
                           str(html)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Host Will Decline Next Sale With" in html.read_text(encoding="utf-8")
