"""Class colours for label maps: a high-contrast categorical palette (the default) or the dataset's
own colours, for any number of classes K.

Datasets' palettes are made for storing labels, not for reading them: CamVid's Car, Fence,
Pavement and Road are all dark blue-purples, its Pole and Tree both olive. The high-contrast
palette starts from Kelly's colours of maximum contrast (Kelly 1965, without white, black and
grey, which stand for the photo, "unlabelled" and dimmed pixels), extends them for large K by
picking, again and again, the colour farthest in CIELAB from all chosen so far, and then gives
each class the free colour nearest its dataset colour, so a class keeps roughly its familiar hue.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

CONTRAST, DATASET = "contrast", "dataset"
CHOICES = {CONTRAST: "high contrast", DATASET: "the dataset's colours"}

# Kelly's 22 colours of maximum contrast, in his order, without white, black and grey (sRGB
# values as commonly tabulated for the ISCC-NBS centroids).
KELLY = (
    (243, 195, 0), (135, 86, 146), (243, 132, 0), (161, 202, 241), (190, 0, 50), (194, 178, 128), (0, 136, 86),
    (230, 143, 172), (0, 103, 165), (249, 147, 121), (96, 78, 151), (246, 166, 0), (179, 68, 108), (220, 211, 0),
    (136, 45, 23), (141, 182, 0), (101, 69, 34), (226, 88, 34), (43, 61, 38),
)
# For large K: candidate colours on an RGB grid, neither near-black nor near-white (L* 25-90).
GRID_STEPS = 18
LIGHTNESS = (25.0, 90.0)


def to_lab(colours) -> np.ndarray:
    """(N,3) sRGB 0-255 -> (N,3) CIELAB (D65): the space where distance approximates perceived difference."""
    c = np.asarray(colours, dtype=np.float64).reshape(-1, 3) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    xyz /= np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1)


def distances(a, b) -> np.ndarray:
    """(N,M) CIE76 colour differences (Delta E*ab) between two lists of sRGB colours."""
    la, lb = to_lab(a), to_lab(b)
    return np.sqrt(((la[:, None, :] - lb[None, :, :]) ** 2).sum(-1))


def min_distance(palette) -> float:
    """The smallest Delta E between two colours of a palette: how confusable its closest pair is."""
    d = distances(palette, palette)
    return float(d[~np.eye(len(d), dtype=bool)].min()) if len(d) > 1 else float("inf")


@lru_cache(maxsize=8)
def candidates(count: int) -> tuple[tuple[int, int, int], ...]:
    """`count` mutually distinct colours. Up to 19: Kelly's, dropping the later colour of the closest
    pair until `count` remain; beyond: all of Kelly's, then greedy farthest-point picks in CIELAB."""
    chosen = list(KELLY)
    while len(chosen) > count:
        d = distances(chosen, chosen) + np.diag(np.full(len(chosen), np.inf))
        i, j = divmod(int(np.argmin(d)), len(chosen))
        chosen.pop(max(i, j))  # Kelly's order is his order of preference
    if len(chosen) < count:
        axis = np.linspace(0, 255, GRID_STEPS).round()
        grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
        lab = to_lab(grid)
        keep = (lab[:, 0] >= LIGHTNESS[0]) & (lab[:, 0] <= LIGHTNESS[1])
        grid, lab = grid[keep], lab[keep]
        nearest = np.sqrt(((lab[:, None, :] - to_lab(chosen)[None, :, :]) ** 2).sum(-1)).min(1)
        while len(chosen) < count:
            pick = int(np.argmax(nearest))
            chosen.append(tuple(int(v) for v in grid[pick]))
            nearest = np.minimum(nearest, np.sqrt(((lab - lab[pick]) ** 2).sum(-1)))
    return tuple(chosen)


@lru_cache(maxsize=8)
def contrast_palette(dataset: tuple[tuple[int, int, int], ...]) -> tuple[tuple[int, int, int], ...]:
    """One high-contrast colour per class, each the free candidate nearest its dataset colour
    (closest pairs matched first, so no class takes another's obvious match)."""
    pool = candidates(len(dataset))
    cost = distances(dataset, pool)
    result: list[tuple[int, int, int] | None] = [None] * len(dataset)
    for flat in np.argsort(cost, axis=None, kind="stable"):
        k, j = divmod(int(flat), len(pool))
        if result[k] is None and np.isfinite(cost[k, j]):
            result[k] = pool[j]
            cost[:, j] = np.inf
    return tuple(result)


def display_palette(dataset_palette, choice: str = CONTRAST) -> list[tuple[int, int, int]]:
    """The colours to draw K classes with: the high-contrast palette, or the dataset's as given."""
    dataset = tuple(tuple(int(v) for v in c) for c in dataset_palette)
    return list(dataset if choice == DATASET else contrast_palette(dataset))
