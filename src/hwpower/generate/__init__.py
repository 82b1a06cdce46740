"""``hwpower generate``: the seed's raw data (nets files, train/val tables) from the oracle."""

from .plan import BACKENDS, GenerateConfig, Plan, example_config, make_plan
from .campaign import generate
from .shards import COLUMNS, round_significant

__all__ = ["BACKENDS", "COLUMNS", "GenerateConfig", "Plan", "example_config", "generate", "make_plan",
           "round_significant"]
