"""Reading YAML data files into typed objects, with errors that point at the problem.

The reader itself is ``devices.datafile`` (the terminal profile is parsed in ``devices``,
which never imports ``harness``): one shape checker for inventories, profiles, plans and
templates. Every error names the file, the key path (``stations[1].terminal.ecr``) and what
was expected; a strict mapping names an unknown key and the nearest known one.
"""

from __future__ import annotations

from devices.datafile import ConfigError, Node, load_yaml, nearest, unknown_key

__all__ = ["ConfigError", "Node", "load_yaml", "nearest", "unknown_key"]
