"""The terminal's screen through a display camera: screen states recognised in frames.

``Screen`` (``station.screen``) watches one station's display camera and ``expect``s the
profile's screen states; ``ScreenReader`` reads one frame; ``locate`` finds the screen and
its rows of text; ``check_screen`` holds the screen to the terminal's answer (the fourth
witness); ``ScreenWatch`` reads the screen through a whole transaction (its states, the
prompts it shows), and ``harness.screen.transaction`` is what the flows call. See docs/screen.md.
"""

from __future__ import annotations

from harness.screen.reader import ScreenReader, ScreenReading, ScreenRow
from harness.screen.screen import Screen, ScreenConfigError, ScreenNotShown
from harness.screen.watch import ScreenWatch, Seen
from harness.screen.witness import ScreenDisagrees, check_screen

__all__ = ["Screen", "ScreenConfigError", "ScreenDisagrees", "ScreenNotShown", "ScreenReader",
           "ScreenReading", "ScreenRow", "ScreenWatch", "Seen", "check_screen"]
