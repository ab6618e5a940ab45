"""TOI table parsing and cross-match (vetting.toi)."""

from __future__ import annotations

import pytest

from clara_benchmark.exceptions import ClaraError
from clara_benchmark.vetting.toi import TOITableError, cross_match, parse_toi_table, relation

GOOD = """# ExoFOP TOI table, exported for a test
# another comment line

TOI,TIC ID,Previous CTOI,Period (days),Epoch (BJD),Depth (ppm),Duration (hours),TFOPWG Disposition,Comments
114.01,25155310,,3.2888,2458326.10,6200,3.2,KP,"WASP-126 b, known planet"
1071.01,231663901,,1.43037,2458325.52,,1.6,KP,
200.01,410214986,,8.1387,2458332.31,2900,3.2,CP,young
2048.01,159873822,,13.79,,,,PC,
2048.02,159873822,,,,,,,"no period yet"
"""


def test_good_table_with_comments_extra_columns_and_missing_values():
    cat = parse_toi_table(GOOD.encode(), "toi.csv")
    assert len(cat) == 5 and 25155310 in cat and 1 not in cat
    (wasp126,) = cat.lookup(25155310)
    assert wasp126.toi == "114.01" and wasp126.period_days == 3.2888 and wasp126.disposition == "KP"
    assert wasp126.epoch_btjd == pytest.approx(1326.10)
    assert cat.lookup(231663901)[0].depth_ppm is None  # empty cell
    assert [e.toi for e in cat.lookup(159873822)] == ["2048.01", "2048.02"]
    assert cat.lookup(159873822)[1].period_days is None
    assert cat.lookup(999) == ()


def test_byte_order_mark_and_str_input():
    cat = parse_toi_table("\ufeffTIC ID,TOI\n5,1.01\n")
    assert [e.toi for e in cat.lookup(5)] == ["1.01"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("# only a comment\n", "empty"),
        ("TIC,TOI\n1,1.01\n", "line 1: no column 'TIC ID'"),
        ("TIC ID,TOI\nabc,1.01\n", "line 2: 'TIC ID' is not a whole number: 'abc'"),
        ("TIC ID,TOI\n-5,1.01\n", "line 2: 'TIC ID' is not a whole number"),
        ("TIC ID,TOI\n5,\n", "line 2: 'TOI' is empty"),
        (
            "TIC ID,TOI,Period (days)\n5,1.01,3.2\n6,2.01,fast\n",
            "line 3: 'Period (days)' is not a number: 'fast'",
        ),
        ("TIC ID,TOI,Depth (ppm)\n5,1.01,nan\n", "line 2: 'Depth (ppm)' is not finite"),
        ("TIC ID,TOI\n5,1.01,extra\n", "line 2: 3 cells, the header has 2"),
        ("# c\nTIC ID,TOI\n5\n", "line 3: 1 cells, the header has 2"),
    ],
)
def test_malformed_tables_name_the_file_and_line(text, message):
    with pytest.raises(TOITableError, match="^bad.csv: .*" if message == "empty" else None) as info:
        parse_toi_table(text, "bad.csv")
    assert str(info.value).startswith("bad.csv: ") and message in str(info.value)
    assert isinstance(info.value, ClaraError)


def test_non_utf8_bytes_are_refused():
    with pytest.raises(TOITableError, match="not UTF-8"):
        parse_toi_table(b"TIC ID,TOI\n\xff\xfe,1\n", "bin.csv")


@pytest.mark.parametrize(
    "found, catalogue, expected",
    [
        (3.2888, 3.2888, "same"),
        (3.30, 3.2888, "same"),  # within 1 %
        (3.40, 3.2888, None),
        (1.6444, 3.2888, "half"),
        (6.5776, 3.2888, "double"),
        (1.0963, 3.2888, "third"),
        (9.8664, 3.2888, "triple"),
        (4.9332, 3.2888, None),  # 3/2 is not reported
        (0.0, 3.2888, None),
    ],
)
def test_harmonic_relations(found, catalogue, expected):
    assert relation(found, catalogue) == expected


def test_cross_match_picks_the_toi_whose_period_matches():
    cat = parse_toi_table(
        "TIC ID,TOI,Period (days)\n7,100.01,2.0\n7,100.02,9.0\n7,100.03,\n8,101.01,5.0\n", "t.csv"
    )
    m = cross_match(cat, 7, 18.05)
    assert (
        m.entry.toi == "100.02" and m.relation == "double" and m.period_ratio == pytest.approx(2.0056, 1e-3)
    )
    assert "twice the TOI period" in m.note
    assert cross_match(cat, 7, 2.0).entry.toi == "100.01"
    no_match = cross_match(cat, 8, 7.3)
    assert no_match.entry.toi == "101.01" and no_match.relation is None
    assert cross_match(cat, 9, 1.0) is None
