"""What each synthetic category is: its kind, its defect types and a one-line description."""

from __future__ import annotations

from dataclasses import dataclass

from .loco import LOGICAL_DEFECTS, STRUCTURAL_DEFECTS

KINDS = ("texture", "object", "loco")


@dataclass(frozen=True)
class CategoryInfo:
    """Description of one synthetic category (``defects`` excludes ``good``)."""

    name: str
    kind: str
    defects: tuple[str, ...]
    description: str
    logical_defects: tuple[str, ...] = ()
    structural_defects: tuple[str, ...] = ()

    @property
    def layout(self) -> str:
        """``"mvtec_ad"`` or ``"mvtec_loco"``: the folder layout the category is written in."""
        return "mvtec_loco" if self.kind == "loco" else "mvtec_ad"


SYNTHETIC_REGISTRY: dict[str, CategoryInfo] = {
    info.name: info
    for info in (
        CategoryInfo("weave", "texture", ("scratch", "hole", "stain"),
                     "2/2 twill woven fabric (carpet-like); random phase, small rotation"),
        CategoryInfo("grain", "texture", ("scratch", "hole", "stain", "crack"),
                     "wood with warped growth rings, streaks and pores"),
        CategoryInfo("tile", "texture", ("crack", "hole", "stain"),
                     "speckled terrazzo slabs with grout lines at a random offset"),
        CategoryInfo("nut", "object", ("scratch", "hole", "stain", "crack"),
                     "hex metal nut on a dark plate, any rotation, small shifts"),
        CategoryInfo("capsule", "object", ("scratch", "hole", "stain", "crack"),
                     "two-coloured printed pill capsule, small rotation and shifts"),
        CategoryInfo("tray", "loco", LOGICAL_DEFECTS + STRUCTURAL_DEFECTS,
                     "3x3 compartment box, one pin per compartment, colour fixed by column (MVTec LOCO layout)",
                     logical_defects=LOGICAL_DEFECTS, structural_defects=STRUCTURAL_DEFECTS),
    )
}

SYNTHETIC_CATEGORIES: tuple[str, ...] = tuple(n for n, i in SYNTHETIC_REGISTRY.items() if i.kind != "loco")
SYNTHETIC_LOCO_CATEGORIES: tuple[str, ...] = tuple(n for n, i in SYNTHETIC_REGISTRY.items() if i.kind == "loco")
ALL_CATEGORIES: tuple[str, ...] = SYNTHETIC_CATEGORIES + SYNTHETIC_LOCO_CATEGORIES


def category_info(name: str) -> CategoryInfo:
    """The :class:`CategoryInfo` of ``name``; ``ValueError`` listing the known names otherwise."""
    try:
        return SYNTHETIC_REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown synthetic category {name!r}; known: {list(SYNTHETIC_CATEGORIES)} (MVTec AD layout) "
            f"and {list(SYNTHETIC_LOCO_CATEGORIES)} (MVTec LOCO layout)"
        ) from None
