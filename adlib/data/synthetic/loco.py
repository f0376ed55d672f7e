"""``tray``: an MVTec-LOCO-style category — a 3×3 compartment box, one coloured pin per compartment.

Rules a normal image obeys: every compartment holds exactly one item; the item's colour is fixed by
its column (red, yellow, blue from left to right); every divider is present. Logical anomalies
break a rule, structural ones damage the box or an item. Geometry lives in tray units (the tray is
the unit square), mapped to pixels by the per-image pose.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from ._draw import blur, coords, jitter_colour, lerp, smooth_noise, smoothstep
from .defects import apply_defect

ROWS, COLS = 3, 3
RIM, DIV, ITEM_R, TRAY_SIDE = 0.06, 0.035, 0.06, 0.86
SHADOW = 0.24  # drop-shadow offset of an item, in item radii
CELL = (1.0 - 2 * RIM - (COLS - 1) * DIV) / COLS
PALETTE = {"red": (0.82, 0.16, 0.13), "yellow": (0.93, 0.76, 0.12), "blue": (0.16, 0.33, 0.80)}
COLUMN_COLOURS = ("red", "yellow", "blue")
FOREIGN = ((0.20, 0.62, 0.25), (0.55, 0.22, 0.65), (0.93, 0.93, 0.90))
LOGICAL_DEFECTS = ("extra_item", "missing_item", "misplaced_item", "wrong_color", "missing_divider")
STRUCTURAL_DEFECTS = ("scratch", "stain", "crack")
PIXEL_VALUES = {"extra_item": 255, "missing_item": 254, "misplaced_item": 253, "wrong_color": 252,
                "missing_divider": 251, "scratch": 250, "stain": 249, "crack": 248}


def defects_config(image_size: int) -> list[dict]:
    """``defects_config.json`` entries; absolute thresholds are half an item's area in pixels."""
    half_item = int(round(0.5 * np.pi * (ITEM_R * TRAY_SIDE * image_size) ** 2))
    absolute = {"extra_item": half_item, "misplaced_item": half_item}
    return [{"defect_name": name, "pixel_value": value,
             "saturation_threshold": absolute.get(name, 1.0),
             "relative_saturation": name not in absolute} for name, value in PIXEL_VALUES.items()]


def cell_box(row: int, col: int) -> tuple[float, float, float, float]:
    """(u0, u1, v0, v1) of a compartment's floor in tray units."""
    u0, v0 = RIM + col * (CELL + DIV), RIM + row * (CELL + DIV)
    return u0, u0 + CELL, v0, v0 + CELL


def divider_box(kind: str, row: int, col: int) -> tuple[float, float, float, float]:
    """Divider segment right of (row, col) (``kind="v"``) or below it (``"h"``)."""
    u0, u1, v0, v1 = cell_box(row, col)
    return (u1, u1 + DIV, v0, v1) if kind == "v" else (u0, u1, v1, v1 + DIV)


@dataclass
class Item:
    u: float
    v: float
    colour: np.ndarray


@dataclass
class Layout:
    items: dict[tuple[int, int], list[Item]]
    missing: list[tuple[str, int, int]] = field(default_factory=list)


class TrayScene:
    """Pose, materials and the normal layout of one image, drawn from its scene generator."""

    def __init__(self, rng: np.random.Generator, size: int):
        s = self.size = size
        self.side = TRAY_SIDE * s * rng.uniform(0.98, 1.02)
        self.cy, self.cx = s / 2 + np.clip(rng.normal(0, 0.015 * s, 2), -0.03 * s, 0.03 * s)
        self.ang = np.deg2rad(rng.uniform(-3.0, 3.0))
        yy, xx = coords(s)
        p, q = xx - self.cx, yy - self.cy
        self.u = (p * np.cos(self.ang) + q * np.sin(self.ang)) / self.side + 0.5
        self.v = (-p * np.sin(self.ang) + q * np.cos(self.ang)) / self.side + 0.5
        self.table = jitter_colour(rng, (0.30, 0.32, 0.36), 0.01) * (1 + 0.06 * smooth_noise(rng, s, 3, 2))[..., None]
        self.wall = jitter_colour(rng, (0.80, 0.70, 0.54), 0.01) * (1 + 0.03 * smooth_noise(rng, s, s / 5))[..., None]
        self.floor = jitter_colour(rng, (0.68, 0.58, 0.44), 0.01) * (1 + 0.04 * smooth_noise(rng, s, (s / 3, 6)))[..., None]
        jit = CELL / 2 - ITEM_R - 0.015
        self.layout = Layout({(r, c): [self._item(rng, r, c, rng.uniform(-jit, jit, 2), PALETTE[COLUMN_COLOURS[c]])]
                              for r in range(ROWS) for c in range(COLS)})

    def _item(self, rng, row, col, offset, colour) -> Item:
        u0, u1, v0, v1 = cell_box(row, col)
        return Item((u0 + u1) / 2 + offset[0], (v0 + v1) / 2 + offset[1], jitter_colour(rng, colour, 0.02))

    def to_px(self, u: float, v: float) -> tuple[float, float]:
        """Tray units → (y, x) pixel position."""
        a, b = (u - 0.5) * self.side, (v - 0.5) * self.side
        return self.cy + a * np.sin(self.ang) + b * np.cos(self.ang), self.cx + a * np.cos(self.ang) - b * np.sin(self.ang)

    def box_cover(self, box, grow: float = 0.0) -> np.ndarray:
        """Anti-aliased coverage of a tray-unit rectangle (optionally grown by ``grow`` units)."""
        u0, u1, v0, v1 = box
        inside = np.minimum(np.minimum(self.u - u0, u1 - self.u), np.minimum(self.v - v0, v1 - self.v)) + grow
        return np.clip(0.5 + inside * self.side, 0, 1)

    def item_cover(self, item: Item, extra_px: float = 0.0) -> np.ndarray:
        y, x = self.to_px(item.u, item.v)
        yy, xx = coords(self.size)
        return np.clip(ITEM_R * self.side + extra_px - np.hypot(yy - y, xx - x) + 0.5, 0, 1)

    def render(self, layout: Layout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Draw a layout: (albedo, tray coverage, item coverage)."""
        s, side = self.size, self.side
        rc = 0.03
        du, dv = np.abs(self.u - 0.5) - (0.5 - rc), np.abs(self.v - 0.5) - (0.5 - rc)
        d_box = np.hypot(np.maximum(du, 0), np.maximum(dv, 0)) + np.minimum(np.maximum(du, dv), 0) - rc
        tray = np.clip(0.5 - d_box * side, 0, 1)
        shadow = smoothstep(0.04, -0.01, d_box - 0.012) * (1 - tray)
        albedo = self.table * (1 - 0.45 * shadow)[..., None]
        floor = np.zeros((s, s), np.float32)  # disjoint rectangles: their coverages add up
        for box in [cell_box(r, c) for r in range(ROWS) for c in range(COLS)] + [divider_box(*m) for m in layout.missing]:
            floor += self.box_cover(box)
        floor = np.clip(floor, 0, 1)
        ao = blur(1 - floor, max(1.0, 0.012 * s))
        floor_col = self.floor * (1 - 0.55 * ao)[..., None]
        albedo = lerp(albedo, lerp(self.wall, floor_col, floor), tray)
        items = np.zeros((s, s), np.float32)
        for item in (it for cell in layout.items.values() for it in cell):
            self._draw_item(albedo, items, item)
        return albedo.astype(np.float32), tray, items

    def _draw_item(self, albedo: np.ndarray, items: np.ndarray, item: Item) -> None:
        """Paint one pin (drop shadow, shaded dome, dimple, highlight) in place, on its bounding box."""
        s, r_px = self.size, ITEM_R * self.side
        y, x = self.to_px(item.u, item.v)
        reach = r_px * (1 + SHADOW) + 3
        y0, y1 = max(0, int(y - reach)), min(s, int(y + reach) + 2)
        x0, x1 = max(0, int(x - reach)), min(s, int(x + reach) + 2)
        if y0 >= y1 or x0 >= x1:
            return
        yy, xx = coords(s)
        py, px = yy[y0:y1, x0:x1] - y, xx[y0:y1, x0:x1] - x
        d = np.hypot(py, px)
        drop = smoothstep(r_px + 1.5, r_px - 1.0, np.hypot(py - SHADOW * r_px, px - SHADOW * r_px))
        cover = np.clip(r_px - d + 0.5, 0, 1)
        h = np.sqrt(np.clip(1 - (d / r_px) ** 2, 0, 1))
        spec = np.exp(-(np.hypot(py + 0.35 * r_px, px + 0.35 * r_px) / (0.28 * r_px)) ** 2)
        dimple = 1 - 0.25 * np.exp(-((d - 0.45 * r_px) / max(0.6, 0.08 * r_px)) ** 2)
        col = np.clip(item.colour * (0.5 + 0.5 * h * dimple)[..., None] + 0.45 * spec[..., None], 0, 1)
        crop = albedo[y0:y1, x0:x1] * (1 - 0.35 * drop)[..., None]
        albedo[y0:y1, x0:x1] = lerp(crop, col, cover)
        np.maximum(items[y0:y1, x0:x1], cover, out=items[y0:y1, x0:x1])

    # -- anomalies -------------------------------------------------------------------------
    def _pair_in(self, rng, cell, first: Item, second: Item) -> None:
        """Put two items side by side inside ``cell`` (random axis, small jitter)."""
        u0, u1, v0, v1 = cell_box(*cell)
        cu, cv = (u0 + u1) / 2, (v0 + v1) / 2
        off = ITEM_R + 0.006
        axis = rng.integers(2)
        j = rng.uniform(-0.01, 0.01, 2)
        for item, sign in ((first, -1), (second, 1)):
            item.u = cu + (sign * off if axis == 0 else 0) + j[0]
            item.v = cv + (sign * off if axis == 1 else 0) + j[1]

    def logical(self, rng: np.random.Generator, defect: str) -> tuple[Layout, list[tuple[str, object]]]:
        """A rule-breaking layout and its instances as (defect name, item or box to mask)."""
        lay = copy.deepcopy(self.layout)
        cells = list(lay.items)
        out: list[tuple[str, object]] = []
        pick = [cells[k] for k in rng.permutation(len(cells))]
        two = rng.random() < 0.35
        if defect == "extra_item":
            for cell in pick[: 1 + two]:
                colour = PALETTE[COLUMN_COLOURS[cell[1]] if rng.random() < 0.7 else COLUMN_COLOURS[rng.integers(COLS)]]
                new = self._item(rng, *cell, (0, 0), colour)
                self._pair_in(rng, cell, lay.items[cell][0], new)
                lay.items[cell].append(new)
                out.append(("extra_item", new))
        elif defect == "missing_item":
            for cell in pick[: 1 + two]:
                lay.items[cell] = []
                out.append(("missing_item", cell_box(*cell)))
        elif defect == "misplaced_item":
            src = pick[0]
            item = lay.items[src].pop()
            if rng.random() < 0.6:  # into another compartment, next to its item
                dst = pick[1]
                self._pair_in(rng, dst, lay.items[dst][0], item)
                lay.items[dst].append(item)
            else:  # lying on a divider next to its compartment
                r, c = src
                kind, r2, c2 = [("v", r, c), ("v", r, c - 1), ("h", r, c), ("h", r - 1, c)][rng.integers(4)]
                r2, c2 = (min(max(r2, 0), ROWS - 2), c2) if kind == "h" else (r2, min(max(c2, 0), COLS - 2))
                u0, u1, v0, v1 = divider_box(kind, r2, c2)
                item.u, item.v = (u0 + u1) / 2 + rng.uniform(-0.01, 0.01), (v0 + v1) / 2 + rng.uniform(-0.01, 0.01)
                lay.items[src].append(item)  # it still "belongs" to src for drawing order
            out += [("misplaced_item", item), ("missing_item", cell_box(*src))]
        elif defect == "wrong_color":
            if rng.random() < 0.6:  # two items of different columns swap colours
                a = pick[0]
                b = next(cell for cell in pick[1:] if cell[1] != a[1])
                ia, ib = lay.items[a][0], lay.items[b][0]
                ia.colour, ib.colour = ib.colour, ia.colour
                out += [("wrong_color", ia), ("wrong_color", ib)]
            else:
                it = lay.items[pick[0]][0]
                it.colour = jitter_colour(rng, FOREIGN[rng.integers(len(FOREIGN))], 0.02)
                out.append(("wrong_color", it))
        elif defect == "missing_divider":
            segs = [(k, r, c) for k in "vh" for r in range(ROWS - (k == "h")) for c in range(COLS - (k == "v"))]
            for k in rng.permutation(len(segs))[: 1 + two]:
                lay.missing.append(segs[k])
                out.append(("missing_divider", divider_box(*segs[k])))
        else:
            raise ValueError(f"unknown logical defect {defect!r}; known: {list(LOGICAL_DEFECTS)}")
        return lay, out

    def instance_mask(self, target) -> np.ndarray:
        if isinstance(target, Item):  # the item with its drop shadow
            return self.item_cover(target, extra_px=1.42 * SHADOW * ITEM_R * self.side + 1.5) > 0
        return self.box_cover(target) > 0


def render_tray(scene_rng: np.random.Generator, defect_rng: np.random.Generator, size: int, defect: str = "good"):
    """(clean albedo, defective albedo, [(defect name, bool mask), ...]) for one tray image."""
    scene = TrayScene(scene_rng, size)
    clean, tray, items = scene.render(scene.layout)
    if defect == "good":
        return clean, clean.copy(), []
    if defect in LOGICAL_DEFECTS:
        layout, targets = scene.logical(defect_rng, defect)
        image, _, _ = scene.render(layout)
        return clean, image, [(name, scene.instance_mask(t)) for name, t in targets]
    if defect not in STRUCTURAL_DEFECTS:
        raise ValueError(f"unknown tray defect {defect!r}; known: {list(LOGICAL_DEFECTS + STRUCTURAL_DEFECTS)}")
    if defect == "crack":  # a broken item
        cells = list(scene.layout.items)
        item = scene.layout.items[cells[defect_rng.integers(len(cells))]][0]
        y, x = scene.to_px(item.u, item.v)
        jit = defect_rng.uniform(-0.25, 0.25, 2) * ITEM_R * scene.side
        region = scene.item_cover(item, extra_px=-0.8)
        image, mask = apply_defect("crack", defect_rng, clean, region, center=(y + jit[0], x + jit[1]), scale=0.4)
    else:  # on the box, not on an item
        region = np.where(items > 0, 0.0, tray)
        image, mask = apply_defect(defect, defect_rng, clean, region, scale=0.8)
    return clean, image, [(defect, mask)]
