"""The published chip table, its workloads, and users' measurement files (errors name file and line)."""

from __future__ import annotations

import pytest

from hwpower.errors import InputError
from hwpower.oracle.calibration.networks import workload
from hwpower.oracle.calibration.table import FIGURES, builtin_table, parse_points, read_points

HEADER = ("key,node_nm,pe_rows,pe_cols,bits,glb_kib,rf_bytes,freq_mhz,v_nom,dram_gbps,dataflow,network,batch,"
          "power_w,throughput_ips")
GOOD = "a,65,12,14,16,105.47,512,200,1.0,1.6,ws,alexnet-conv,4,0.278,34.7"


def test_table_has_six_points_with_all_three_figures_and_sources():
    points = builtin_table()
    full = [p for p in points if len(p.figures) == 3]
    # ten points; five with power, throughput and energy (Edge TPU's 2 W is a rating, not a measurement)
    assert len(points) >= 6 and len(full) >= 5
    assert all(p.source and p.chip and p.covers in ("chip", "chip+dram") for p in points)
    assert len({p.key for p in points}) == len(points)
    chips = {"Eyeriss v1", "Eyeriss v2", "Edge TPU", "TPU v1", "NVDLA", "Simba (36 chiplets)"}
    assert chips <= {p.chip for p in points}


def test_published_figures_and_derived_energy():
    by_key = {p.key: p for p in builtin_table()}
    eyeriss = by_key["eyeriss-alexnet"]
    assert (eyeriss.power_w, eyeriss.throughput_ips, eyeriss.batch, eyeriss.node_nm) == (0.278, 34.7, 4, 65)
    assert eyeriss.derived == "energy_mj" and eyeriss.energy_mj == pytest.approx(0.278 / 34.7 * 1e3)
    v2 = by_key["eyeriss2-mobilenet"]  # published: inferences/s and inferences/J
    assert v2.derived == "power_w" and v2.power_w == pytest.approx(1470.6 / 2560.3, rel=1e-3)
    tpu = by_key["tpu1-mlp0"]
    assert (tpu.power_w, tpu.throughput_ips, tpu.batch, tpu.pe_rows, tpu.freq_mhz) == (40, 225000, 200, 256, 700)
    nvdla = by_key["nvdla-2048-resnet50"]  # no power published: throughput only
    assert nvdla.figures == {"throughput_ips": 269} and nvdla.area_mm2 == 5.5
    assert not by_key["eyeriss2-mobilenet"].fit and by_key["eyeriss-vgg16"].fit
    assert tpu.covers == "chip+dram"  # busy power per card, incremental over the server: DDR3 included


def test_chip_mappings():
    by_key = {p.key: p for p in builtin_table()}
    nvdla = by_key["nvdla-2048-resnet50"]  # nv_large: atomic C 64 (rows) x atomic K 32 (columns)
    assert (nvdla.pe_rows, nvdla.pe_cols, nvdla.schedule, nvdla.overlap) == (64, 32, "layer", "perfect")
    edge = by_key["edgetpu-mobilenet_v2"]  # the rated 2 W is no measurement: throughput only
    assert edge.figures == {"throughput_ips": 384.6} and edge.weights == "resident"
    eyeriss = by_key["eyeriss-alexnet"]  # the defaults where the table says nothing
    assert (eyeriss.schedule, eyeriss.overlap, eyeriss.weights) == ("fused", "tiled", "dram")


@pytest.mark.parametrize("column,value", [("schedule", "depth"), ("overlap", "ideal"), ("weights", "rom")])
def test_bad_mapping_column_names_line(column, value):
    with pytest.raises(InputError, match=f"line 2: column '{column}': '{value}' must be one of"):
        parse_points(f"{HEADER},{column}\n{GOOD},{value}\n", file="m.csv")


@pytest.mark.parametrize("name,batch,macs,weights", [
    ("alexnet-conv", 1, 665_784_864, None),  # the five convolutions, two-group conv2/4/5
    ("vgg16-conv", 1, 15_346_630_656, None),  # 13 convolutions at 224 px
    ("mobilenet-v1", 1, 568_740_352, None),  # Howard et al. 2017: 569 M mult-adds
    ("mlp0", 200, 200 * 5 * 2000 ** 2, 5 * (2000 ** 2 + 2000)),  # 20 M weights (with biases)
])
def test_workloads(name, batch, macs, weights):
    counts = workload(name, batch).counts
    assert counts.macs == macs
    if weights is not None:
        assert counts.weights == weights


def test_reference_workloads_are_batch_one_only():
    assert workload("resnet50", 1).counts.macs > 4e9
    with pytest.raises(ValueError, match="batch 1 only"):
        workload("resnet50", 8)


def test_a_good_file_reads(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(f"{HEADER}\n{GOOD}\n")
    (p,) = read_points(path)
    assert p.key == "a" and p.energy_mj == pytest.approx(0.278 / 34.7 * 1e3) and p.derived == "energy_mj"
    assert set(p.figures) == set(FIGURES) and p.fit and p.dram == "lpddr4"


@pytest.mark.parametrize("line,message", [
    (GOOD.replace("105.47", "big"), "line 3: column 'glb_kib': 'big' is not a number"),
    (GOOD.replace("alexnet-conv", "lenet"), "line 3: column 'network': unknown network 'lenet'"),
    (GOOD.replace(",ws,", ",rs,"), "line 3: column 'dataflow': 'rs' must be one of"),
    (GOOD.replace(",16,105", ",12,105"), "line 3: column 'bits': '12' must be one of"),
    (GOOD.replace("0.278,34.7", ","), "line 3: give at least one of"),
    (GOOD.replace(",4,0.278", ",-4,0.278"), "line 3: column 'batch': '-4' must be a positive finite number"),
    (GOOD.replace(",65,", ",7,").replace(",1.0,", ",,"), "line 3: column 'v_nom': needed for a 7 nm node"),
    (GOOD + ",extra", "line 3: 16 values for 15 columns"),
])
def test_bad_lines_name_file_line_and_column(tmp_path, line, message):
    path = tmp_path / "m.csv"
    path.write_text(f"{HEADER}\n{GOOD.replace('a,', 'b,', 1)}\n{line}\n")
    with pytest.raises(InputError) as err:
        read_points(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_bad_headers_and_inconsistent_figures():
    with pytest.raises(InputError, match="line 1: missing column"):
        parse_points("key,node_nm\na,65\n", file="m.csv")
    with pytest.raises(InputError, match=r"line 1: unknown column\(s\) \['colour'\]"):
        parse_points(f"{HEADER},colour\n{GOOD},red\n", file="m.csv")
    with pytest.raises(InputError, match="line 2: power_w / throughput_ips"):
        parse_points(f"{HEADER},energy_mj\n{GOOD},1.0\n", file="m.csv")
    with pytest.raises(InputError, match="duplicate key"):
        parse_points(f"{HEADER}\n{GOOD}\n{GOOD}\n", file="m.csv")
