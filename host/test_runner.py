#!/usr/bin/env python3
"""Host-side tests of the console judge in runner.py, of the declared
list of suites (host/expected-suites) against the sources, and of the
figures demo.py derives from its samples."""

import glob
import os
import re
import tempfile
import unittest

from runner import (FAILED_CONTEXT, MODES, Results, case_seconds, judge_lines,
                    judge_suites, kselftests, problems, read_expected, watchdog_at)

HOST = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HOST)
EXPECTED = os.path.join(HOST, "expected-suites")

KUNIT = """\
KTAP version 1
1..2
    KTAP version 1
    # Subtest: page_states
    # module: page_states
    1..3
    ok 1 backend_follows_cmma_flag
    not ok 2 hooks_count_allocation_and_free
    ok 3 hints_only_with_a_backend # SKIP no backend
# page_states: pass:1 fail:1 skip:1 total:3
not ok 1 page_states
    KTAP version 1
    # Subtest: rust_doctests_kernel
    ok 1 rust_doctest_kernel_a
    ok 2 rust_doctest_kernel_b
ok 2 rust_doctests_kernel
"""

KSELFTEST = """\
TAP version 13
1..2
# timeout set to 45
# selftests: page_states: page_states_sysfs
# TAP version 13
# 1..2
# # Starting 2 tests from 1 test cases.
# ok 1 global.backend_is_reported
# not ok 2 global.attributes_reject_writes
# # FAILED: 1 / 2 tests passed.
not ok 1 selftests: page_states: page_states_sysfs # exit=1
# selftests: page_states: no_tap_output
ok 2 selftests: page_states: no_tap_output
"""


def feed(text):
    r = Results()
    for line in text.splitlines(keepends=True):
        r.feed(line)
    return r


class KtapTest(unittest.TestCase):
    def test_counts_kunit_cases_not_suites(self):
        r = feed(KUNIT)
        self.assertEqual(r.passed, ["backend_follows_cmma_flag",
                                    "rust_doctest_kernel_a", "rust_doctest_kernel_b"])
        self.assertEqual(r.failed, ["hooks_count_allocation_and_free"])
        self.assertEqual(r.skipped, ["hints_only_with_a_backend"])

    def test_counts_kselftest_cases_and_programs_without_tap(self):
        r = feed(KSELFTEST)
        self.assertEqual(r.passed, ["global.backend_is_reported",
                                    "selftests: page_states: no_tap_output"])
        self.assertEqual(r.failed, ["global.attributes_reject_writes"])

    def test_counts_host_checks_before_kunit(self):
        r = feed("ok 1 host: rustfmt\nnot ok 2 host: series-checkpatch\n" + KUNIT)
        self.assertIn("host: rustfmt", r.passed)
        self.assertIn("host: series-checkpatch", r.failed)
        self.assertEqual(len(r.passed), 4)
        self.assertEqual(len(r.failed), 2)

    def test_failed_case_comes_with_what_its_test_logged(self):
        lines = KSELFTEST.splitlines(keepends=True)
        at = lines.index("# not ok 2 global.attributes_reject_writes\n")
        logged = ["# # attributes_reject_writes: wrote 7", "[   3.1] WARNING: at mm/x.c"]
        lines[at:at] = [l + "\n" for l in logged] + ["\n"]
        failed = list(judge_lines(Results(), lines))
        self.assertEqual(("# not ok 2 global.attributes_reject_writes", logged), failed[0])
        # The program's verdict does not count its failed case twice.
        self.assertEqual(1, len(failed))

    def test_failed_case_context_is_bounded(self):
        lines = ["# # line %d\n" % i for i in range(3 * FAILED_CONTEXT)] + ["not ok 1 x\n"]
        (verdict, logged), = judge_lines(Results(), lines)
        self.assertEqual(FAILED_CONTEXT, len(logged))
        self.assertEqual("# # line %d" % (3 * FAILED_CONTEXT - 1), logged[-1])

    def test_times_each_case_from_the_verdict_or_header_before(self):
        lines = KSELFTEST.splitlines(keepends=True)
        # Line i came at 10 * i seconds.
        times = case_seconds(lines, [10.0 * i for i in range(len(lines))])
        self.assertEqual(times, [
            (40.0, "page_states:page_states_sysfs: global.backend_is_reported"),
            (10.0, "page_states:page_states_sysfs: global.attributes_reject_writes"),
            (10.0, "page_states:no_tap_output"),
        ])

    def test_strips_printk_timestamps(self):
        r = feed("[    1.234567]     ok 1 case_a\n[    1.3] ok 1 suite_a\n")
        self.assertEqual(r.passed, ["case_a"])


# A boot's console: one KUnit suite, two kselftest programs.
BOOT = """\
KTAP version 1
1..1
    KTAP version 1
    # Subtest: page_states
    1..2
    ok 1 eight_valid_states
    ok 2 guest_transitions
ok 1 page_states
TAP version 13
1..2
# selftests: page_states: page_states_sysfs
# TAP version 13
# 1..3
# ok 1 global.mode_and_backend_are_reported
# ok 2 global.census_follows_allocations_and_frees # SKIP page_states=off keeps no states
# ok 3 global.knobs_take_good_input
ok 1 selftests: page_states: page_states_sysfs
# selftests: page_states: gph_mirror
# TAP version 13
# 1..2
# ok 1 global.mirror_rejects_bad_ranges
# ok 2 mirror.munmap
ok 2 selftests: page_states: gph_mirror
"""

DECLARED = """\
# modes            suite                           cases
off,unused,volatile page_states                      2   # KUnit
off                page_states:page_states_sysfs     2   # one case skips
unused,volatile    page_states:page_states_sysfs     3
off,unused,volatile page_states:gph_mirror           2
volatile           page_states:volatile_cache        5
"""


def declared(text, mode):
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as f:
        f.write(text)
        f.flush()
        return read_expected(f.name, mode)


class SuiteTest(unittest.TestCase):
    def test_counts_cases_per_suite(self):
        self.assertEqual(feed(BOOT).suites(), {
            "page_states": (2, 0),
            "page_states:page_states_sysfs": (2, 1),
            "page_states:gph_mirror": (2, 0),
        })

    def test_reads_the_rows_of_one_mode(self):
        self.assertEqual(declared(DECLARED, "off"), {
            "page_states": 2, "page_states:page_states_sysfs": 2,
            "page_states:gph_mirror": 2})
        volatile = declared(DECLARED, "volatile")
        self.assertEqual(volatile["page_states:page_states_sysfs"], 3)
        self.assertEqual(kselftests(volatile), [
            "page_states:page_states_sysfs", "page_states:gph_mirror",
            "page_states:volatile_cache"])

    def test_refuses_malformed_rows(self):
        for bad in ["of page_states 2\n", "off page_states\n", "off page_states two\n",
                    "off page_states 2\noff page_states 3\n"]:
            with self.assertRaises(ValueError, msg=bad):
                declared(bad, "off")

    def test_complete_boot_passes(self):
        _, failures = judge_suites(feed(BOOT), declared(DECLARED, "off"))
        self.assertEqual(failures, [])

    def test_missing_suite_fails(self):
        report, failures = judge_suites(feed(BOOT), declared(DECLARED, "volatile"))
        self.assertEqual(len(failures), 2)
        self.assertIn("page_states:volatile_cache: missing", failures[1])
        self.assertTrue(any(l.lstrip().startswith("MISSING") for l in report))

    def test_short_suite_fails_and_skips_do_not_count(self):
        # 3 cases, one skipped: enough for off (2), short for unused (3).
        _, failures = judge_suites(feed(BOOT), declared(DECLARED, "unused"))
        self.assertEqual(failures, [
            "suite page_states:page_states_sysfs: short (2 of 3 cases ran, 1 skipped)"])

    def test_program_that_stops_early_is_short(self):
        crashed = BOOT.replace("# ok 2 mirror.munmap\n", "").replace(
            "ok 2 selftests: page_states: gph_mirror",
            "not ok 2 selftests: page_states: gph_mirror # exit=139")
        r = feed(crashed)
        # Its summary is a failure of its own, not one more case.
        self.assertEqual(r.failed, ["selftests: page_states: gph_mirror"])
        _, failures = judge_suites(r, declared(DECLARED, "off"))
        self.assertEqual(failures, ["suite page_states:gph_mirror: short (1 of 2 cases ran)"])

    def test_failed_case_counts_as_run(self):
        r = feed(BOOT.replace("# ok 2 mirror.munmap", "# not ok 2 mirror.munmap").replace(
            "ok 2 selftests: page_states: gph_mirror",
            "not ok 2 selftests: page_states: gph_mirror # exit=1"))
        self.assertEqual(r.failed, ["mirror.munmap"])
        self.assertEqual(r.suites()["page_states:gph_mirror"], (2, 0))

    def test_unclosed_suite_keeps_its_header(self):
        died = BOOT[:BOOT.index("# ok 2 mirror.munmap")]
        self.assertEqual(feed(died).suites()["page_states:gph_mirror"], (1, 0))

    def test_undeclared_suite_is_only_noted(self):
        report, failures = judge_suites(feed(BOOT), {"page_states": 2})
        self.assertEqual(failures, [])
        self.assertTrue(any("page_states:gph_mirror" in l and "not declared" in l
                            for l in report))

    def test_watchdog_reports_before_the_timeout(self):
        self.assertEqual(watchdog_at(900), 840)
        self.assertEqual(watchdog_at(60), 30)


def built_kselftests():
    """COLLECTION:TEST for every program the page_states selftests build."""
    with open(os.path.join(ROOT, "tools/testing/selftests/page_states/Makefile")) as f:
        text = f.read().replace("\\\n", " ")
    progs = []
    for m in re.finditer(r"^TEST_(?:GEN_)?PROGS\s*[:+]?=(.*)$", text, re.M):
        progs += m.group(1).split()
    return {f"page_states:{p}" for p in progs}


def source_cases(text):
    """The cases a kselftest_harness.h program declares: TEST(), TEST_F(),
    and their _TIMEOUT/_SIGNAL forms; a TEST_F() runs once for each of its
    fixture's FIXTURE_VARIANT_ADD()s, or once if the fixture has none."""
    variants = {}
    for fixture in re.findall(r"^FIXTURE_VARIANT_ADD\(\s*(\w+)\s*,", text, re.M):
        variants[fixture] = variants.get(fixture, 0) + 1
    cases = 0
    for kind, first in re.findall(r"^TEST(_F)?(?:_TIMEOUT|_SIGNAL)?\(\s*(\w+)", text, re.M):
        cases += variants.get(first, 1) if kind else 1
    return cases


def rust_sources():
    """The project's Rust files (those that land in the kernel tree)."""
    for top in ("arch", "lib", "mm", "rust"):
        yield from glob.glob(os.path.join(ROOT, top, "**", "*.rs"), recursive=True)


class DeclaredListTest(unittest.TestCase):
    """host/expected-suites agrees with the sources: every kselftest that is
    built is declared for some boot, and a suite's count, in the boot where
    none of its cases skips, is every case it has."""

    def declared_max(self):
        most = {}
        for mode in MODES:
            for suite, cases in read_expected(EXPECTED, mode).items():
                most[suite] = max(most.get(suite, 0), cases)
        return most

    def test_every_built_kselftest_is_declared(self):
        most = self.declared_max()
        for suite in sorted(built_kselftests()):
            self.assertIn(suite, most, f"{suite} is built but not declared in {EXPECTED}")

    def test_kselftest_counts_are_every_case(self):
        for suite, cases in self.declared_max().items():
            if ":" not in suite:
                continue
            collection, test = suite.split(":")
            src = os.path.join(ROOT, "tools/testing/selftests", collection, test + ".c")
            self.assertTrue(os.path.exists(src), f"{suite}: no {src}")
            with open(src) as f:
                want = source_cases(f.read())
            self.assertEqual(cases, want, f"{suite}: {want} cases in {src}")

    def test_fixture_variants_multiply_their_cases(self):
        text = """\
FIXTURE(pool) {};
FIXTURE_VARIANT(pool) {};
FIXTURE_VARIANT_ADD(pool, a) {};
FIXTURE_VARIANT_ADD(pool, b) {};
FIXTURE_VARIANT_ADD(pool, c) {};
FIXTURE(plain) {};
TEST_F(pool, one) {}
TEST_F_TIMEOUT(pool, two, 600) {}
TEST_F(plain, three) {}
TEST(four) {}
TEST_SIGNAL(five, SIGABRT) {}
"""
        self.assertEqual(source_cases(text), 3 + 3 + 1 + 1 + 1)

    def test_kunit_counts_are_every_case(self):
        most = self.declared_max()
        for src in rust_sources():
            with open(src) as f:
                # Not the examples in doc comments.
                text = re.sub(r"^\s*//.*$", "", f.read(), flags=re.M)
            for name, body in re.findall(
                    r'kunit_test_suite!\(\s*"([^"]+)",\s*\[([^\]]*)\]', text):
                cases = len(re.findall(r"\w+", body))
                self.assertEqual(most.get(name), cases, f"KUnit suite {name} in {src}")


class ProblemTest(unittest.TestCase):
    def test_finds_kernel_problems(self):
        log = [
            "WARNING: CPU: 0 PID: 1 at mm/page_alloc.c:1 foo+0x0/0x10\n",
            "BUG: sleeping function called from invalid context\n",
            "WARNING: possible circular locking dependency detected\n",
            "Kernel panic - not syncing: Attempted to kill init!\n",
            "Unable to handle kernel pointer dereference in virtual kernel address space\n",
            "INFO: task kworker/0:1:42 blocked for more than 60 seconds.\n",
            "pagealloc: memory corruption\n",
            "BUG: KFENCE: use-after-free read in page_states_free+0x2a/0x80\n",
        ]
        self.assertEqual(len(problems(log)), len(log))

    def test_ignores_healthy_lines(self):
        log = [
            " ... MAX_LOCKDEP_SUBCLASSES:  8\n",
            "rcu: \tRCU lockdep checking is enabled.\n",
            "page_states: mode volatile, backend emulated: ESSA is not available\n",
            "    ok 1 rust_doctest_kernel_sync_lock_rs_0\n",
        ]
        self.assertEqual(problems(log), [])


class CompareTest(unittest.TestCase):
    """The figures make bench derives from its samples (demo.py)."""

    def boot(self, samples, before, after, request=1.0):
        import demo
        b = demo.Boot("x", "off", "compare", 160)
        b.samples = samples
        b.marks = {"before": (0.0, before, None), "after": (9.0, after, None)}
        b.request = (request, 0.0)
        return b

    def test_median_of_odd_and_even_counts(self):
        import demo
        self.assertEqual(3, demo.median([5, 1, 3]))
        self.assertEqual(2.5, demo.median([4, 1, 3, 2]))

    def test_time_to_90_counts_from_the_request(self):
        import demo
        # RSS falls from 200 MiB to 100 MiB; 90% of the fall is at 110 MiB.
        samples = [(0.5, 50 << 10), (1.5, 150 << 10), (2.0, 111 << 10),
                   (2.5, 110 << 10), (3.0, 100 << 10)]
        b = self.boot(samples, 200 << 10, 100 << 10)
        self.assertEqual(1.5, demo.time_to_90(b))

    def test_time_to_90_is_none_without_a_fall(self):
        import demo
        b = self.boot([(2.0, 200 << 10)], 200 << 10, (200 << 10) - 512)
        self.assertIsNone(demo.time_to_90(b))


if __name__ == "__main__":
    unittest.main()
