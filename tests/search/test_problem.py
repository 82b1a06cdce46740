import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwpower.errors import InputError
from hwpower.search import parse_constraint, parse_fixes, parse_objective, parse_target
from hwpower.search.problem import OUTPUTS


def test_parse_constraint():
    c = parse_constraint("latency_ms<=5")
    assert (c.output, c.op, c.limit) == ("latency_ms", "<=", 5.0)
    assert parse_constraint(" P > 0.5 ").op == ">="
    assert c.satisfied(5.0) and not c.satisfied(5.01)
    assert c.satisfied(5.05, rtol=0.02)


@pytest.mark.parametrize("text, message", [
    ("latency<=5", "unknown output 'latency'"),
    ("P=2", "expected OUTPUT<=VALUE"),
    ("P<=-1", "must be positive"),
    ("P<=0", "must be positive"),
])
def test_parse_constraint_errors(text, message):
    with pytest.raises(InputError, match=message) as err:
        parse_constraint(text)
    assert repr(text) in str(err.value)


@given(st.sampled_from(OUTPUTS), st.sampled_from(["<=", ">="]), st.floats(1e-6, 1e6))
def test_constraint_text_roundtrip(name, op, limit):
    c = parse_constraint(f"{name}{op}{limit!r}")
    assert (c.output, c.op, c.limit) == (name, op, limit)
    assert parse_constraint(str(c)).output == name


def test_parse_target_and_objective():
    assert parse_target("P=1.3") == {"P": 1.3}
    assert parse_target("P_core=0.8, P_bw=0.4") == {"P_core": 0.8, "P_bw": 0.4}
    assert parse_objective("P").weights == {"P": 1.0}
    assert parse_objective("0.7*P + 0.3*latency_ms").weights == {"P": 0.7, "latency_ms": 0.3}
    for bad, message in [("P=abc", "not a number"), ("P=1,P_core=2", "either P or"), ("X=1", "unknown output")]:
        with pytest.raises(InputError, match=message):
            parse_target(bad)
    with pytest.raises(InputError, match="cannot read term"):
        parse_objective("P*latency_ms")


def test_parse_fixes(space):
    assert parse_fixes(["bits=8", "dataflow=os,pe_rows=16"], space) == {"bits": 8, "dataflow": "os", "pe_rows": 16}
    with pytest.raises(InputError, match="unknown hardware parameter 'bitz'"):
        parse_fixes(["bitz=8"], space)
    with pytest.raises(InputError, match=r"'12' is not an allowed value of bits; allowed: \[8, 16\]"):
        parse_fixes(["bits=12"], space)
    with pytest.raises(InputError, match="expected PARAM=VALUE"):
        parse_fixes(["bits"], space)
