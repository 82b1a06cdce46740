"""Networks as operator graphs (ops.py, graph.py) or block sequences (blocks.py, the compact form of
the search spaces, which expands into operators): counting, JSON I/O, search spaces, importers.

Importing this package never imports torch; the torchvision importer is loaded on first use.
"""

from .blocks import BLOCK_TYPES, Block, block_from_dict, register_block
from .importers import import_network
from .expand import expand_network
from .graph import GraphNetwork
from .jsonio import AnyNetwork, network_from_dict, parse_networks, read_networks, write_networks
from .layers import Layer, LayerOp, LayerTable, OpGeometry
from .ops import KIND_NAMES, Op
from .network import Counts, Network, block_counts
from .reference import reference_networks
from .spaces import SEARCH_SPACES, register_space, sample_networks

__all__ = [
    "AnyNetwork", "GraphNetwork", "KIND_NAMES", "Op", "OpGeometry", "expand_network", "network_from_dict",
    "BLOCK_TYPES", "Block", "Counts", "Layer", "LayerOp", "LayerTable", "Network", "SEARCH_SPACES",
    "block_counts", "block_from_dict", "import_network", "parse_networks", "read_networks", "reference_networks",
    "register_block", "register_space", "sample_networks", "write_networks",
]
