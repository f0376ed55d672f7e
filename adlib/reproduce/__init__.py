"""Reproduce the papers' tables: config grids of experiments, run and collected."""

from .grid import Cell, collect, expand, load_config, run_grid

__all__ = ["Cell", "collect", "expand", "load_config", "run_grid"]
