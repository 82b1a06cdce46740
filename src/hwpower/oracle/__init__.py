"""The oracle: an analytical accelerator power model (docs/oracle.md) and its hardware space."""

from .model import OUTPUTS, Oracle, check_hardware
from .settings import ORACLE_VERSION, OracleSettings
from .space import HW_PARAMS, HardwareSpace, Param

__all__ = ["HW_PARAMS", "ORACLE_VERSION", "OUTPUTS", "HardwareSpace", "Oracle", "OracleSettings", "Param",
           "check_hardware"]
