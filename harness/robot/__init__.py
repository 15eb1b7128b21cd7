"""posrig for Robot Framework: ``Library    harness.robot.PosrigLibrary``."""

from harness.robot.library import PosrigLibrary

__all__ = ["PosrigLibrary"]
