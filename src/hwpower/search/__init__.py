"""Finding hardware parameters with the frozen predictor: recover, identify, design (the seed's
"recover" layer), verified by the oracle; plus black-box baselines and exhaustive grid search."""

from .context import SearchContext
from .descent import DescentConfig, RecoverLayer
from .domain import Domain
from .gridview import GridView
from .problem import Constraint, Objective, parse_constraint, parse_fixes, parse_objective, parse_target
from .results import SearchResult
from .starts import KChoice, StartPoints, choose_k, kmeans_starts, random_starts
from .surrogate import DifferentiablePredictor, SearchSurrogate
from .identify import identify
from .tasks import RecoverQuery, design, recover
from .truth import Clock, SlowTruth

__all__ = [
    "Clock", "Constraint", "DescentConfig", "DifferentiablePredictor", "Domain", "GridView", "KChoice", "Objective",
    "RecoverLayer", "RecoverQuery", "SearchContext", "SearchResult", "SearchSurrogate", "SlowTruth", "StartPoints", "choose_k",
    "design", "identify", "kmeans_starts", "parse_constraint", "parse_fixes", "parse_objective", "parse_target",
    "random_starts", "recover",
]
