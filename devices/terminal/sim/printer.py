"""The simulated printer: a slip rendered from the profile's receipt template."""

from __future__ import annotations

from typing import Any

from devices.bench import Slip


def format_amount(fen: int) -> str:
    return f"RMB {fen // 100}.{fen % 100:02d}"


def render_slip(template: dict[str, Any], values: dict[str, str], copy: str = "merchant",
                quality: str = "good") -> Slip:
    """Lines in template order: title, copy marker, one ``LABEL: value`` line per field."""
    lines = [template.get("title", ""), template.get("copies", {}).get(copy, copy)]
    for entry in template.get("fields", []):
        lines.append(f"{entry['label']}: {values.get(entry['key'], '')}")
    return Slip(tuple(lines), quality=quality)
