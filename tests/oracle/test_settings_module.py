"""The oracle's settings and the fitted technology factors are defined once (oracle/settings.py);
the model, the package and the calibration package hand out those same objects."""

from __future__ import annotations

import hwpower.oracle as oracle_pkg
from hwpower.oracle import model, settings
from hwpower.oracle.calibration import factors


def test_one_definition_under_every_name():
    assert model.OracleSettings is settings.OracleSettings is oracle_pkg.OracleSettings
    assert model.ORACLE_VERSION is settings.ORACLE_VERSION is oracle_pkg.ORACLE_VERSION
    for name in factors.__all__:
        assert getattr(factors, name) is getattr(settings, name)


def test_fitted_settings_are_the_factors_applied():
    fitted = settings.OracleSettings.fitted("builtin", tech_nm=65, dram="ddr3")
    assert fitted == factors.builtin_tech().settings(65, dram="ddr3")
    assert fitted.cycle_overhead == factors.builtin_tech().factors(65).cycles
    assert settings.tech_settings(None, 45) == settings.OracleSettings(tech_nm=45)
