"""Trainable students with a teacher's architecture (DAF §III.B: "the same architecture, initialised randomly").

``build_student(teacher)`` builds the registry entry of ``teacher`` at the same stages, trainable,
with random weights (a ResNet keeps every BN weight at 1: no zero-init of the blocks' last BN, as
torchvision); ``init="pretrained"`` copies the teacher's weights instead (DAF Table X), so no second
file is needed.
"""

from __future__ import annotations

from .backbone import Backbone, build_backbone

STUDENT_INITS = ("random", "pretrained")


def build_student(teacher: Backbone, init: str = "random") -> Backbone:
    """A trainable :class:`Backbone` shaped like ``teacher`` (same name and stages); ``init``: ``"random"``
    or ``"pretrained"`` (the teacher's current weights, copied)."""
    if init not in STUDENT_INITS:
        raise ValueError(f"student init must be one of {STUDENT_INITS}, got {init!r}")
    student = build_backbone(teacher.name, layers=teacher.layers, weights="random", trainable=True)
    if init == "pretrained":
        student.body.load_state_dict(teacher.body.state_dict(), strict=True)
        student.weights_source = f"copy of the teacher ({teacher.weights_source})"
        student.weights_sha256 = teacher.weights_sha256
    return student
