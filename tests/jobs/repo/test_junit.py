"""JUnit XML reports: parsed into test cases, hostile or foreign XML refused, stale reports ignored."""

import os
import subprocess
import time

import pytest

from jobs.repo.junit import collect_reports, parse_junit

REPORT = """<?xml version="1.0"?><testsuites><testsuite name="pytest" tests="3">
<testcase classname="tests.test_calc" name="test_add" time="0.003"/>
<testcase classname="tests.test_calc" name="test_sub" time="0.004"><failure message="assert 1 == 2">trace</failure></testcase>
<testcase classname="tests.test_calc" name="test_mul" time="0"><skipped message="later"/></testcase>
</testsuite></testsuites>"""


def test_cases_come_with_their_outcome_and_message():
    cases = parse_junit(REPORT)
    assert [(c["name"], c["outcome"]) for c in cases] == [("test_add", "passed"), ("test_sub", "failed"), ("test_mul", "skipped")]
    assert cases[1]["message"] == "assert 1 == 2\ntrace" and cases[0]["seconds"] == 0.003


@pytest.mark.parametrize("text", ["<html/>", "not xml", '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><testsuite><testcase name="&e;"/></testsuite>'])
def test_what_is_not_a_plain_report_is_refused(text):
    with pytest.raises(ValueError):
        parse_junit(text)


def test_only_fresh_reports_are_read_and_untracked_ones_never_reach_the_commit(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "report.xml").write_text(REPORT)
    subprocess.run(["git", "-C", str(tmp_path), "add", "report.xml"], check=True)
    (tmp_path / "junit.xml").write_text(REPORT)
    (tmp_path / "TEST-old.xml").write_text(REPORT)
    old = time.time() - 3600
    os.utime(tmp_path / "TEST-old.xml", (old, old))
    assert len(collect_reports(tmp_path, since=time.time() - 60)) == 6  # junit.xml and report.xml
    assert not (tmp_path / "junit.xml").exists() and (tmp_path / "report.xml").exists()
    assert (tmp_path / "TEST-old.xml").exists()


def test_reports_behind_a_link_out_of_the_workspace_are_not_read_or_removed(tmp_path):
    outside, workdir = tmp_path / "outside", tmp_path / "work"
    (outside / "deep").mkdir(parents=True)
    report = b'<testsuite><testcase classname="t" name="elsewhere"/></testsuite>'
    (outside / "deep" / "x.xml").write_bytes(report)
    (outside / "junit.xml").write_bytes(report)
    workdir.mkdir()
    subprocess.run(["git", "init", "-q", str(workdir)], check=True)
    (workdir / "test-results").symlink_to(outside)
    (workdir / "junit.xml").symlink_to(outside / "junit.xml")
    assert collect_reports(workdir, since=0) == []
    assert (outside / "deep" / "x.xml").exists() and (outside / "junit.xml").exists()
