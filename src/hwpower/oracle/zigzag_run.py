"""Run ZigZag (zigzag-dse 3.9) on one layer and one accelerator, in memory.

ZigZag's public entry point (``zigzag.api.get_hardware_performance_zigzag``) reads YAML files, logs,
and pickles every result into an output folder. We call its parsers on Python dictionaries and run
only the stages that search a mapping and cost it, which is several times faster and writes nothing.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from ..errors import InputError
from ..networks.layers import Layer
from ..networks.ops import Op
from .zigzag_translate import ZigZagHardware, accelerator_data, mapping_data, workload_data

logger = logging.getLogger(__name__)

# LOMA enumerates orderings of the layer's loop prime factors; 4 "loop prime factors" per dimension
# keeps one layer under about a second and changed energy by < 0.5 % against 6 on our probes.
DEFAULT_LPF_LIMIT = 4


@dataclass(frozen=True)
class ZigZagLayerResult:
    """ZigZag's cost of one layer: energies in pJ, latency in clock cycles."""

    energy_pj: float
    mac_pj: float
    rf_pj: float
    glb_pj: float
    dram_pj: float
    latency_cycles: float
    ideal_cycles: float  # MACs / PEs: the latency with a perfectly used array and no stalls
    spatial_mapping: str
    rf_bytes_used: int  # the register-file capacity ZigZag mapped with (see run_layer)


def _zigzag():
    """Import ZigZag lazily: it is an optional dependency (``pip install hwpower[zigzag]``)."""
    try:
        from zigzag.mapping.temporal_mapping import TemporalMappingType
        from zigzag.opt.loma.engine import NoValidLoopOrderingFoundException
        from zigzag.parser.accelerator_factory import AcceleratorFactory
        from zigzag.parser.accelerator_validator import AcceleratorValidator
        from zigzag.parser.mapping_validator import MappingValidator
        from zigzag.parser.workload_factory import LayerNodeFactory
        from zigzag.parser.workload_validator import WorkloadValidator
        from zigzag.stages.evaluation.cost_model_evaluation import CostModelStage
        from zigzag.stages.main import MainStage
        from zigzag.stages.mapping.spatial_mapping_generation import SpatialMappingGeneratorStage
        from zigzag.stages.mapping.temporal_mapping_generator_stage import TemporalMappingGeneratorStage
        from zigzag.stages.results.reduce_stages import MinimalEnergyStage
    except ImportError as exc:
        # zigzag-dse 3.9.1 also imports `six` without declaring it.
        raise ImportError(f"the ZigZag backend needs zigzag-dse (pip install 'hwpower[zigzag]' six): {exc}") from exc
    return locals()


def require_zigzag() -> None:
    """Raise ImportError, naming what to install, unless ZigZag imports."""
    _zigzag()


def _validated(validator_cls, data, what: str):
    validator = validator_cls(data)
    normalized = validator.normalized_data
    if not validator.validate():
        errors = getattr(getattr(validator, "validator", None), "errors", "see the log")
        raise InputError(f"ZigZag rejected the generated {what}: {errors}", where=what)
    return normalized


def _accelerator(hw: ZigZagHardware):
    zz = _zigzag()
    data = _validated(zz["AcceleratorValidator"], accelerator_data(hw), "accelerator")
    return zz["AcceleratorFactory"](data).create()


def run_layer(layer: Layer | Op, hw: ZigZagHardware, lpf_limit: int = DEFAULT_LPF_LIMIT) -> ZigZagLayerResult:
    """Search ZigZag's minimum-energy mapping of ``layer`` on ``hw`` and return its cost.

    The loop orderings searched keep one of the dataflow's stationary loops innermost (n! -> (n-1)!
    orderings; pinning two was faster still but forced partial sums out to DRAM on dense
    convolutions, 10-70x the DRAM traffic of a free search); when no such ordering fits the
    memories, none is pinned. ZigZag's memory
    allocator fills the lowest level first and needs every level to hold what the levels below hold;
    when a large register file array sits under a small buffer no mapping passes, and the register
    file is then used at half its capacity, and so on (its per-access energy stays that of the full
    register file). ``rf_bytes_used`` records the capacity ZigZag was given.
    """
    zz = _zigzag()
    cme, used = None, hw
    for used in _rf_halvings(hw):
        for pinned in (1, 0):
            try:
                cme = _search(zz, layer, used, lpf_limit, pinned)
                break
            except zz["NoValidLoopOrderingFoundException"]:
                logger.debug("%s on %s: no loop ordering with %d pinned loops", layer.name, used, pinned)
        if cme is not None:
            break
    else:
        raise InputError(f"ZigZag found no mapping of this layer on {hw} at any register-file size",
                         where=layer.name)
    per_level = [0.0, 0.0, 0.0]  # rf, glb, dram: every operand lives at all three levels
    for levels in cme.mem_energy_breakdown.values():
        for i, energy in enumerate(levels):
            per_level[i] += float(energy)
    return ZigZagLayerResult(
        energy_pj=float(cme.energy_total), mac_pj=float(cme.mac_energy),
        rf_pj=per_level[0], glb_pj=per_level[1], dram_pj=per_level[2],
        latency_cycles=float(cme.latency_total2), ideal_cycles=float(cme.ideal_cycle),
        spatial_mapping=str(cme.layer.spatial_mapping), rf_bytes_used=used.rf_bytes,
    )


def _rf_halvings(hw: ZigZagHardware):
    rf = hw.rf_bytes
    min_rf = 3 * hw.bits // 8  # one word of each operand
    while rf >= min_rf:
        yield dataclasses.replace(hw, rf_bytes=rf)
        rf //= 2


def _search(zz: dict, layer: Layer | Op, hw: ZigZagHardware, lpf_limit: int, pinned: int):
    mapping = _validated(zz["MappingValidator"], mapping_data(layer, hw, pinned), "mapping")
    workload = _validated(zz["WorkloadValidator"], workload_data(layer, hw.bits), "workload")
    node = zz["LayerNodeFactory"](workload[0], mapping).create()
    stages = [
        zz["MinimalEnergyStage"], zz["SpatialMappingGeneratorStage"], zz["MinimalEnergyStage"],
        zz["TemporalMappingGeneratorStage"], zz["CostModelStage"],
    ]
    main = zz["MainStage"](
        stages, accelerator=_accelerator(hw), layer=node, loma_lpf_limit=lpf_limit,
        loma_show_progress_bar=False, nb_mappings_generated=1, enable_mix_spatial_mapping_generation=True,
        # A word kept at a memory's output pins is not read again (ZigZag's API default).
        access_same_data_considered_as_no_access=True,
        temporal_mapping_type=zz["TemporalMappingType"].UNEVEN,
    )
    return main.run()[0][0]
