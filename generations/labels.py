"""Words a member reads for the raw values the providers' APIs use (shot types, camera moves, aspect ratios).

The New video form offers these labels and the video page shows them, so both say the same thing.
"""

from __future__ import annotations

from typing import Any

SHOT_TYPE_LABELS = {"customize": "I write each shot", "intelligence": "The model splits my prompt"}
CAMERA_TYPE_LABELS = {
    "simple": "Simple move",
    "down_back": "Down and back",
    "forward_up": "Forward and up",
    "right_turn_forward": "Turn right, then forward",
    "left_turn_forward": "Turn left, then forward",
}
CAMERA_AXIS_LABELS = {
    "horizontal": "Horizontal",
    "vertical": "Vertical",
    "pan": "Pan",
    "tilt": "Tilt",
    "roll": "Roll",
    "zoom": "Zoom",
}
ASPECT_LABELS = {"16:9": "16:9 landscape", "9:16": "9:16 portrait", "1:1": "1:1 square"}


def _number(value: Any) -> str:
    """5.0 → "+5", -2.5 → "-2.5": the amount as a member would write it."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    text = f"{number:g}"
    return f"+{text}" if number > 0 else text


def camera_label(control: Any) -> str:
    """``{"type": "simple", "config": {"zoom": 5.0}}`` → ``"Simple move: zoom +5"``."""
    if not isinstance(control, dict):
        return ""
    kind = str(control.get("type", ""))
    label = CAMERA_TYPE_LABELS.get(kind, kind.replace("_", " ").capitalize())
    config = control.get("config") or {}
    moves = [
        f"{CAMERA_AXIS_LABELS.get(axis, axis).lower()} {_number(value)}"
        for axis, value in (config.items() if isinstance(config, dict) else [])
        if value
    ]
    return f"{label}: {', '.join(moves)}" if moves else label
