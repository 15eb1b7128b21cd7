"""The terminal's screen through a display camera: screen states recognised in frames.

``Screen`` (``station.screen``) watches one station's display camera and ``expect``s the
profile's screen states; ``ScreenReader`` reads one frame; ``locate`` finds the screen and
its rows of text. See docs/screen.md.
"""

from __future__ import annotations

from harness.screen.reader import ScreenReader, ScreenReading, ScreenRow
from harness.screen.screen import Screen, ScreenConfigError, ScreenNotShown

__all__ = ["Screen", "ScreenConfigError", "ScreenNotShown", "ScreenReader", "ScreenReading", "ScreenRow"]
