#!/usr/bin/env python3
"""Host-side tests of the console judge in runner.py."""

import unittest

from runner import Results, problems

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

    def test_strips_printk_timestamps(self):
        r = feed("[    1.234567]     ok 1 case_a\n[    1.3] ok 1 suite_a\n")
        self.assertEqual(r.passed, ["case_a"])


class ProblemTest(unittest.TestCase):
    def test_finds_kernel_problems(self):
        log = [
            "WARNING: CPU: 0 PID: 1 at mm/page_alloc.c:1 foo+0x0/0x10\n",
            "BUG: sleeping function called from invalid context\n",
            "WARNING: possible circular locking dependency detected\n",
            "Kernel panic - not syncing: Attempted to kill init!\n",
            "Unable to handle kernel pointer dereference in virtual kernel address space\n",
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


if __name__ == "__main__":
    unittest.main()
