"""The power predictor: encoders, the seed's MLP, the structured model, the LightGBM baseline,
training with checkpoints, evaluation and the seed's experiments. See docs/predictor.md."""

from .bounds import PhysicsWarning
from .encoding import ElementEncoder, HardwareEncoder, NetworkBatch, OutOfRangeWarning
from .evaluate import Evaluation, evaluate, evaluation_frame, metrics, write_evaluation
from .gbt import GBTPowerModel
from .neural import NeuralPowerModel
from .predictor import MODELS, Predictor, make_model
from .runner import train_model
from .support import NetworkSupport, NetworkSupportWarning
from .tables import NetworkTables, network_tables

__all__ = [
    "MODELS", "ElementEncoder", "Evaluation", "GBTPowerModel", "HardwareEncoder", "NetworkBatch", "NetworkSupport",
    "NetworkSupportWarning", "NetworkTables", "NeuralPowerModel", "OutOfRangeWarning", "PhysicsWarning", "Predictor", "evaluate", "evaluation_frame",
    "make_model", "metrics", "network_tables", "train_model", "write_evaluation",
]
