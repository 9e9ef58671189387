"""One module writes every figure (decide.fmt): sentences trim, table cells keep their digits,
and both say so at the call."""

from __future__ import annotations

from tunevsprompt.decide import fmt


def test_a_sentence_trims_and_a_table_cell_keeps_its_digits() -> None:
    assert fmt.num(0.5) == "0.5" and fmt.fixed(0.5) == "0.500"
    assert fmt.num(1402.478) == "1,402" and fmt.fixed(1402.478, 0) == "1402"
    assert fmt.num(0.0000321) == "3.2e-05" and fmt.fixed(0.0000321) == "0.000"
    assert fmt.num(154) == "154" and fmt.fixed(154) == "154"  # an int is written as it is
    assert fmt.num(0.8120, trim=False) == fmt.fixed(0.8120) == "0.812"
    assert fmt.num(None) == fmt.fixed(None) == fmt.pct(None) == fmt.usd(None) == fmt.MISSING


def test_intervals_money_and_volumes() -> None:
    assert fmt.ci(0.292208, [0.214286, 0.363636]) == "0.292 [0.214, 0.364]"
    assert fmt.ci(0.5, [0.4, None]) == "0.500" and fmt.ci(None, [0.1, 0.2]) == fmt.MISSING
    assert fmt.interval([-0.065, 0.078]) == "[-0.065, +0.078]" and fmt.signed(3.854493) == "+3.854"
    assert fmt.bounds([1, 2]) == (1.0, 2.0) and fmt.bounds([1, None]) is None
    assert fmt.pct(0.128705) == "12.9%" and fmt.pvalue(1.6e-11) == "1.6e-11"
    assert fmt.usd(0.0036002) == "$0.00360" and fmt.usd(6.3048) == "$6.30"
    assert fmt.volume(5.4) == "5.4" and fmt.volume(100000) == "100,000"
    assert fmt.text({"a": 1}) == '{"a": 1}' and fmt.text("x") == "x"
