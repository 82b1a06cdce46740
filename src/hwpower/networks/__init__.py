"""Networks as block sequences: block vocabulary, layers, counting, JSON I/O, search spaces.

Importing this package never imports torch; the torchvision importer is loaded on first use.
"""

from .blocks import BLOCK_TYPES, Block, block_from_dict, register_block
from .importers import import_network
from .jsonio import parse_networks, read_networks, write_networks
from .layers import Layer, LayerOp, LayerTable
from .network import Counts, Network, block_counts
from .reference import reference_networks
from .spaces import SEARCH_SPACES, register_space, sample_networks

__all__ = [
    "BLOCK_TYPES", "Block", "Counts", "Layer", "LayerOp", "LayerTable", "Network", "SEARCH_SPACES",
    "block_counts", "block_from_dict", "import_network", "parse_networks", "read_networks", "reference_networks",
    "register_block", "register_space", "sample_networks", "write_networks",
]
