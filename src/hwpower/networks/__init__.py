"""Networks as block sequences: block vocabulary, layers, counting, JSON I/O, search spaces."""

from .blocks import BLOCK_TYPES, Block, block_from_dict, register_block
from .jsonio import parse_networks, read_networks, write_networks
from .layers import Layer, LayerOp, LayerTable
from .network import Counts, Network
from .spaces import SEARCH_SPACES, register_space, sample_networks

__all__ = [
    "BLOCK_TYPES", "Block", "Counts", "Layer", "LayerOp", "LayerTable", "Network", "SEARCH_SPACES",
    "block_from_dict", "parse_networks", "read_networks", "register_block", "register_space",
    "sample_networks", "write_networks",
]
