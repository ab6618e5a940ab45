"""Parsing MAST's tesscurl scripts: the real ones, odd formatting, and hostile lines."""

from __future__ import annotations

import re
import shlex

import pytest

from clara_benchmark.tess_spoc_download.script import (
    check_filename,
    parse_script,
    read_script,
    remote_name,
    script_name,
)

# from CLARA_SPEC §1 (light curves per sector), not from our parser
SPEC_COUNTS = {1: 15889, 5: 19996}


def _grep_expectations(path):
    """What the script says, read with plain string operations (no shlex, no parser of ours)."""
    names, urls = [], []
    with open(path, encoding="ascii") as fh:
        for line in fh:
            if line.startswith("curl "):
                words = line.split()
                names.append(words[words.index("-o") + 1])
                urls.append(words[-1])
    return names, urls


@pytest.mark.parametrize("sector", [1, 5])
def test_real_scripts(tesscurl_dir, sector):
    path = tesscurl_dir / script_name(sector)
    names, urls = _grep_expectations(path)
    assert len(names) == SPEC_COUNTS[sector]
    parsed = read_script(path)
    assert parsed.errors == []
    assert len(parsed.entries) == len(names)
    assert parsed.entries[0].filename == names[0] and parsed.entries[-1].filename == names[-1]
    assert [e.filename for e in parsed.entries] == names
    assert [e.url for e in parsed.entries] == urls
    assert [e.index for e in parsed.entries] == list(range(len(names)))
    assert parsed.entries[0].line_no == 2  # line 1 is #!/bin/sh
    # TIC id = third dash-separated field of the name; the sector is the second
    expected_tics = [int(n.split("-")[2]) for n in names]
    assert [e.tic_id for e in parsed.entries] == expected_tics
    assert all(n.split("-")[1] == f"s{sector:04d}" for n in names)
    assert len(set(expected_tics)) == len(names)


def test_real_script_first_and_last_lines(tesscurl_dir):
    """Spot values read straight off the file's first and last lines."""
    lines = (tesscurl_dir / script_name(1)).read_text().splitlines()
    first = re.search(r"-o (\S+)", lines[1]).group(1)
    last = re.search(r"-o (\S+)", lines[-1]).group(1)
    parsed = read_script(tesscurl_dir / script_name(1))
    assert parsed.entries[0].filename == first == "tess2018206045859-s0001-0000000278660115-0120-s_lc.fits"
    assert parsed.entries[0].tic_id == 278660115
    assert parsed.entries[-1].filename == last


def test_slicing_matches_python_slicing(tesscurl_dir):
    parsed = read_script(tesscurl_dir / script_name(5))
    names, _ = _grep_expectations(tesscurl_dir / script_name(5))
    for start, count in [(0, 10), (19990, 100), (1500, 1500), (30000, 5), (3, 0)]:
        got = [e.filename for e in parsed.sliced(start, count).entries]
        assert got == names[start : start + count]


def test_formatting_variants():
    text = (
        "#!/bin/sh\r\n"
        "\r\n"
        "# a comment line\r\n"
        "curl -C - -L -o a.fits https://h/x?uri=mast:TESS/product/a.fits   \r\n"
        "   curl -L -o 'b c.fits' \"https://h/p/b.fits\"  # trailing comment\n"
        "curl -s --output=d.fits http://h/d.fits\n"
        "curl -oe.fits http://h/e.fits\n"
        "curl -L -O 'https://mast.stsci.edu/api/v0.1/Download/file/?uri=mast:TESS/product/f.fits'\n"
        "wget -c -O g.fits http://h/g.fits\n"
        "wget -q --output-document=h.fits http://h/h.fits\n"
        "wget -P /tmp/elsewhere http://h/dir/i.fits\n"
        "/usr/bin/curl -o j.fits http://h/j.fits\n"
    )
    parsed = parse_script(text)
    assert parsed.errors == []
    got = [(e.filename, e.url) for e in parsed.entries]
    assert got == [
        ("a.fits", "https://h/x?uri=mast:TESS/product/a.fits"),
        ("b c.fits", "https://h/p/b.fits"),
        ("d.fits", "http://h/d.fits"),
        ("e.fits", "http://h/e.fits"),
        ("f.fits", "https://mast.stsci.edu/api/v0.1/Download/file/?uri=mast:TESS/product/f.fits"),
        ("g.fits", "http://h/g.fits"),
        ("h.fits", "http://h/h.fits"),
        ("i.fits", "http://h/dir/i.fits"),  # -P is ignored: files always go to the sector directory
        ("j.fits", "http://h/j.fits"),
    ]
    assert [e.line_no for e in parsed.entries] == [4, 5, 6, 7, 8, 9, 10, 11, 12]


HOSTILE = [
    ("curl -o ../evil.fits http://h/x", "'..'"),
    ("curl -o ../../etc/cron.d/x http://h/x", "'..'"),
    ("curl -o /etc/passwd http://h/x", "absolute path"),
    ("curl -o '\\\\server\\share\\x' http://h/x", "absolute path"),
    ("curl -o C:evil.fits http://h/x", "absolute path"),
    ("curl -o sub/dir.fits http://h/x", "path separator"),
    ("curl -o .. http://h/x", "'..'"),
    ("curl -o .bashrc http://h/x", "hidden"),
    ("curl -o ok.fits file:///etc/passwd", "scheme 'file'"),
    ("curl -o ok.fits ftp://h/x", "scheme 'ftp'"),
    ("curl -o ok.fits gopher://h/x", "scheme 'gopher'"),
    ("curl -o ok.fits http:///nohost", "no host"),
    ("curl -o ok.fits http://h/x; rm -rf ~", "shell syntax"),
    ("curl -o ok.fits http://h/x && echo", "shell syntax"),
    ("curl -o ok.fits http://h/x > /tmp/y", "shell syntax"),
    ("curl -o ok.fits http://h/x?a=1&b=2", "shell syntax"),
    ("curl -o 'unclosed http://h/x", "cannot tokenise"),
    ("rm -rf /", "not a curl or wget"),
    ("curl -o ok.fits", "no URL"),
    ("curl -o ok.fits http://h/x http://h/y", "2 URLs"),
    ("curl -o - http://h/x", "stdout"),
    ("curl -o", "no file name"),
    ("wget http://h/", "empty target"),
    ("curl -o a.fits.part http://h/x", "reserved"),  # clara's own suffixes and manifest name
    ("curl -o A.FITS.PART http://h/x", "reserved"),
    ("curl -o a.fits.damaged http://h/x", "reserved"),
    ("curl -o manifest_sector_7.csv http://h/x", "reserved"),
    ("curl -o 'a\u202etxt.fits' http://h/x", "invisible"),  # right-to-left override: the name lies
    ("curl -o 'a\u200bb.fits' http://h/x", "invisible"),  # zero-width space
    ("curl -o 'a\x9bb.fits' http://h/x", "control"),  # C1 control (CSI)
    ("curl -o 'a\tb.fits' http://h/x", "control"),
]


@pytest.mark.parametrize("line, reason", HOSTILE)
def test_hostile_lines_are_refused(line, reason):
    parsed = parse_script(f"#!/bin/sh\ncurl -o good.fits http://h/good.fits\n{line}\n")
    assert [e.filename for e in parsed.entries] == ["good.fits"]
    assert len(parsed.errors) == 1
    err = parsed.errors[0]
    assert reason in err.reason, err.reason
    assert err.line_no == 3 and err.index == 1
    assert "line 3" in str(err)


def test_refused_lines_keep_their_index_and_others_go_on():
    text = "curl -o a.fits http://h/a\ncurl -o ../b http://h/b\ncurl -o c.fits http://h/c\ncurl -o a.fits http://h/a2\n"
    parsed = parse_script(text)
    assert [(e.index, e.filename) for e in parsed.entries] == [(0, "a.fits"), (2, "c.fits")]
    assert [(e.index, e.line_no) for e in parsed.errors] == [(1, 2), (3, 4)]
    assert "already used on line 1" in parsed.errors[1].reason
    assert parsed.n_commands == 4
    assert [e.filename for e in parsed.sliced(1, 2).entries] == ["c.fits"]
    assert len(parsed.sliced(1, 2).errors) == 1


def test_check_filename_accepts_spoc_names():
    name = "tess2018206045859-s0001-0000000278660115-0120-s_lc.fits"
    assert check_filename(name) == name
    assert check_filename("a..b.fits") == "a..b.fits"  # '..' inside a name stays in the directory
    for bad in ["", "a\x00b", "a\nb", "x" * 300]:
        with pytest.raises(ValueError):
            check_filename(bad)


#: characters with a meaning to cfitsio, a shell or a glob, which in a name are only characters
PLAIN_NAMES = [
    "a",
    "a.part(numpy.py)",
    "star[1].fits",
    "!x.fits",
    "|cmd.fits",
    "x#1.fits",
    "b c.fits",
    " lead and trail .fits ",
    "mem:x.fits",
    "ftp:x.fits",
    "~x.fits",
    "*.fits",
    "?.fits",
    "-x.fits",
    "$HOME.fits",
    "a'b\"c.fits",
    "x.fits+1",
    "étoile.fits",
    "a.partial",
    "a.part.fits",
    "manifest_sector_1.csv.fits",
]


@pytest.mark.parametrize("name", PLAIN_NAMES)
def test_plain_names_are_accepted_literally(name):
    assert check_filename(name) == name
    parsed = parse_script(f"curl -L -o {shlex.quote(name)} http://h/x\n")
    assert parsed.errors == [] and [e.filename for e in parsed.entries] == [name]


def test_remote_name():
    assert remote_name("https://h/api/?uri=mast:TESS/product/x_lc.fits") == "x_lc.fits"
    assert remote_name("https://h/a/b/c%20d.fits?x=1") == "c d.fits"


def test_undecodable_bytes_do_not_crash(tmp_path):
    p = tmp_path / "s.sh"
    p.write_bytes(b"#!/bin/sh\ncurl -o ok.fits http://h/ok\ncurl -o \xff\xfe.fits http://h/x\n")
    parsed = read_script(p)
    assert [e.filename for e in parsed.entries] == ["ok.fits"]
    assert len(parsed.errors) == 1 and "UTF-8" in parsed.errors[0].reason
