"""Reproduce the papers' tables: config grids of experiments, run and collected."""

from .grid import Cell, collect, expand, run_grid
from .schema import ConfigError, find_config, find_configs, load_config, profile_names, table_configs

__all__ = ["Cell", "ConfigError", "collect", "expand", "find_config", "find_configs", "load_config", "profile_names",
           "run_grid", "table_configs"]
