"""The fit of per-node factors: recovers known factors from the oracle's own figures, leave-one-out,
the fitted-constants file, and the `hwpower calibrate` command."""

from __future__ import annotations

import dataclasses
import json

import pytest
from typer.testing import CliRunner

from hwpower.cli import app
from hwpower.errors import InputError
from hwpower.networks import reference_networks, write_networks
from hwpower.oracle.calibration.factors import FittedTech, TechFactors, builtin_tech, load_tech
from hwpower.oracle.calibration.fit import (
    build_models,
    figures,
    fit_points,
    leave_one_out,
    loo_summary,
    run_point,
)
from hwpower.oracle.calibration.table import builtin_table

runner = CliRunner()
# Eyeriss v1's node and DVFS anchor, with workloads and hardware varied so that the energy terms
# (logic, register files, buffer, array network, leakage) take different shares in each point.
VARIANTS = [{}, {"network": "mobilenet-v1-0.5-128", "batch": 1}, {"rf_bytes": 64, "glb_kib": 432},
            {"pe_rows": 16, "pe_cols": 32, "bits": 8, "network": "mobilenet-v1-0.5-128", "batch": 1},
            {"freq_mhz": 100, "network": "vgg16-conv", "batch": 1},
            {"pe_rows": 32, "pe_cols": 32, "rf_bytes": 32, "glb_kib": 54, "batch": 1}]


def synthetic(truth: TechFactors) -> list:
    """Points whose published figures are the oracle's own, with ``truth`` applied."""
    base = {p.key: p for p in builtin_table()}["eyeriss-alexnet"]
    points = []
    for i, change in enumerate(VARIANTS):
        p = dataclasses.replace(base, key=f"s{i}", **change)
        r = run_point(p, truth)
        f = figures(p, r["latency_s"], r["e_core_j"], r["e_bw_j"])
        points.append(dataclasses.replace(p, **f))
    return points


@pytest.fixture(scope="module")
def mac_models():
    return build_models(synthetic(TechFactors(logic=1.7)))


def test_fit_recovers_mac_energy_factor(mac_models):
    f = fit_points(mac_models, prior_weight=0.0).factors(65)
    assert f.logic == pytest.approx(1.7, rel=0.02)
    for other in ("sram", "wire", "leakage", "cycles"):
        assert getattr(f, other) == pytest.approx(1.0, rel=0.02)
    assert fit_points(mac_models).factors(65).logic == pytest.approx(1.7, rel=0.02)  # with the default prior


def test_fit_recovers_several_factors():
    truth = TechFactors(sram=0.6, leakage=3.0, cycles=1.5)
    f = fit_points(build_models(synthetic(truth)), prior_weight=0.0).factors(65)
    for name in TechFactors.names():
        assert getattr(f, name) == pytest.approx(getattr(truth, name), rel=0.02)


def test_point_model_matches_the_real_oracle(mac_models):
    f = TechFactors(logic=1.3, sram=0.7, wire=2.0, leakage=5.0, cycles=1.37)
    for m in mac_models:
        r = run_point(m.point, f)
        real = figures(m.point, r["latency_s"], r["e_core_j"], r["e_bw_j"])
        pred = m.predict(f)
        for k in real:
            assert pred[k] == pytest.approx(real[k], rel=0.02)


def test_leave_one_out_predicts_held_out_points(mac_models):
    loo = leave_one_out(mac_models, prior_weight=0.0)
    assert len(loo) == 3 * len(mac_models) and set(loo["key"]) == {m.point.key for m in mac_models}
    summary = loo_summary(loo)
    assert summary["max_abs_error_pct"] < 5 and summary["within_tolerance"] == 1.0
    by_chip = leave_one_out(mac_models, group=lambda p: p.chip)  # one chip: its node falls back to physics
    assert set(by_chip["held_out"]) == {"Eyeriss v1"}
    energy = by_chip[by_chip["figure"] == "energy_mj"]["ratio"]
    assert (energy < 1).all()  # the uncalibrated oracle lacks the 1.7x MAC energy


def test_fitted_file_round_trip_and_settings(tmp_path):
    fitted = FittedTech({65: TechFactors(logic=1.5, cycles=2.0)}, {"points": ["a"]})
    path = tmp_path / "fitted.json"
    fitted.save(path)
    back = load_tech(path)
    assert back.factors(65) == TechFactors(logic=1.5, cycles=2.0) and back.factors(45) == TechFactors()
    s = back.settings(65, dram="lpddr4")
    assert s.cycle_overhead == 2.0 and s.tech.logic == pytest.approx(1.5 * 65 / 45)
    data = json.loads(path.read_text())
    assert data["format"] == "hwpower-tech/1" and data["oracle_version"] and data["hwpower_version"]


@pytest.mark.parametrize("text,message", [
    ("{", "not JSON"),
    ('{"format": "x"}', "not a fitted-constants file"),
    ('{"format": "hwpower-tech/1", "nodes": {"65": {"mac": 2}}}', "nodes.65: unknown factor(s) ['mac']"),
    ('{"format": "hwpower-tech/1", "nodes": {"65": {"logic": -1}}}', "nodes.65: factor logic must be a positive"),
])
def test_bad_fitted_file_names_file(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_tech(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_builtin_fit_is_the_fit_of_the_builtin_table():
    """The packaged constants are fitted once; rerun `hwpower calibrate --fit builtin --out
    src/hwpower/oracle/calibration/data/fitted.json --force` whenever the oracle's physics changes."""
    points = [p for p in builtin_table() if p.fit]
    fresh = fit_points(build_models(points))
    packaged = builtin_tech()
    assert packaged.fit["points"] == [p.key for p in points]
    for node, f in fresh.nodes.items():
        for name in TechFactors.names():
            assert getattr(packaged.factors(node), name) == pytest.approx(getattr(f, name), rel=0.01), (node, name)


def test_calibrate_prints_every_point(monkeypatch):
    from hwpower.cli import common

    monkeypatch.setattr(common.console, "width", 250)  # the console exists already: COLUMNS is read once
    result = runner.invoke(app, ["calibrate"])
    assert result.exit_code == 0, result.output
    for p in builtin_table():
        assert p.key in result.output
    assert "0.278" in result.output and "points within +-25 %" in result.output
    # every point outside +-25 % is printed with its measured reason from the table
    assert "  eyeriss2-mobilenet: sparse: 1470.6 inferences/s is 1.88x the dense peak" in result.output


MEASURED = ("key,node_nm,pe_rows,pe_cols,bits,glb_kib,rf_bytes,freq_mhz,v_nom,dram_gbps,dataflow,network,batch,"
            "power_w,throughput_ips\n"
            "a,65,12,14,16,105.47,512,200,1.0,1.6,ws,alexnet-conv,1,0.25,40\n"
            "b,65,12,14,16,105.47,512,200,1.0,1.6,ws,mobilenet-v1-0.5-128,1,0.1,100\n")


def test_calibrate_fit_writes_settings_for_oracle(tmp_path):
    measured, out = tmp_path / "m.csv", tmp_path / "fitted.json"
    measured.write_text(MEASURED)
    result = runner.invoke(app, ["calibrate", "--fit", str(measured), "--out", str(out)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "leave-one-point-out" in result.output and "leave-one-chip-out" in result.output
    assert load_tech(out).factors(65) != TechFactors()
    nets = tmp_path / "nets.json"
    write_networks(nets, {0: reference_networks()["resnet18"]})
    hw = "pe_rows=12,pe_cols=14,rf_bytes=512,glb_kib=108,dram_gbps=1.6,freq_mhz=200,bits=16,dataflow=ws"
    plain = runner.invoke(app, ["oracle", str(nets), "--id", "0", "--hw", hw, "--tech-nm", "65", "--no-layers"])
    fitted = runner.invoke(app, ["oracle", str(nets), "--id", "0", "--hw", hw, "--tech-nm", "65", "--no-layers",
                                 "--tech", str(out)])
    assert plain.exit_code == 0 and fitted.exit_code == 0, fitted.output
    assert plain.output != fitted.output
    again = runner.invoke(app, ["calibrate", "--fit", str(measured), "--out", str(out)])
    assert again.exit_code == 2 and "exists; pass --force" in again.output


def test_calibrate_fit_bad_file_names_file_and_line(tmp_path):
    measured = tmp_path / "m.csv"
    measured.write_text(MEASURED.replace("mobilenet-v1-0.5-128", "lenet"))
    result = runner.invoke(app, ["calibrate", "--fit", str(measured)])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "m.csv" in text and "line 3" in text and "unknown network 'lenet'" in text
    result = runner.invoke(app, ["calibrate", "--out", str(tmp_path / "x.json")])
    assert result.exit_code == 2 and "--out needs --fit" in result.output


def test_generate_refuses_zigzag_with_a_cycle_overhead():
    from hwpower.generate import GenerateConfig

    settings = builtin_tech().settings(65, schedule="layer")
    with pytest.raises(InputError, match="ignores the fitted cycle overhead"):
        GenerateConfig(backend="zigzag", settings=settings)


def test_a_point_the_oracle_cannot_run_names_file_and_line(tmp_path):
    measured = tmp_path / "m.csv"  # 45 nm without v_nom: the built-in DVFS curve tops out near 1.2 GHz
    measured.write_text(MEASURED.replace("65,12,14,16,105.47,512,200,1.0", "45,12,14,16,105.47,512,5000,"))
    result = runner.invoke(app, ["calibrate", "--fit", str(measured)])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "m.csv: line 2: point 'a'" in text and "needs more than" in text
