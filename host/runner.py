#!/usr/bin/env python3
"""Boot the GPH guest under qemu-system-s390x (TCG) and judge what it printed.

The guest's /init runs one scenario (run, check or shell) and powers off.
This script captures the console, enforces a timeout, counts the KTAP
results of KUnit and the TAP results of the kselftests, and fails the run on
any oops, BUG, WARNING, lockdep report, hung task or panic, even when every
test passed.  With --expected (make check), it also fails the boot when a
suite declared for its --mode is missing or ran fewer cases than declared,
and tells the guest which kselftests to run.  It ends with the line
`N passed, N failed, N skipped`.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

from qmp import CmmaWatch

DONE = "GPH: scenario done"
# page_states= modes, and "essa": volatile with the ESSA backend, on the
# QEMU of host/qemu (CMMA under TCG), whose host drops pages on its own.
MODES = ("off", "unused", "volatile", "essa")
# How often the CMMA host drops every droppable page in the essa mode.
CMMA_PERIOD_MS = 200
# What the guest's watchdog prints (host/guest/init, gph_watchdog=).
WATCHDOG = "GPH-WATCHDOG"
# A failed case is printed with at most this many of the console lines
# before its verdict: its TH_LOG and assertion lines, and any kernel
# message in between, so that a CI log says why it failed.
FAILED_CONTEXT = 20
# The guest's watchdog reports blocked tasks this long before the timeout.
WATCHDOG_LEAD = 60
# A check boot ends with this many of its slowest cases and their seconds,
# so that a CI log says where a boot's time went.
SLOWEST = 10

# Console lines that mean the kernel is unhealthy, whatever the tests said.
PROBLEMS = [
    r"\bBUG:",
    r"\bWARNING:",
    r"kernel BUG at",
    r"\bOops\b",
    r"Kernel panic",
    r"Unable to handle kernel",
    # ... and "INFO: task NAME:PID blocked for more than N seconds." (hung task)
    r"\bINFO: (possible|inconsistent|suspicious|task .* blocked)",
    r"DEBUG_LOCKS_WARN_ON",
    r"possible (circular|recursive) locking",
    r"Call Trace:",
    r"-+\[ cut here \]-+",
    r"UBSAN:",
    r"general protection fault",
    r"pagealloc: (memory corruption|single bit error)",  # page_poison=1
]
PROBLEM_RE = re.compile("|".join(PROBLEMS))
TIMESTAMP_RE = re.compile(r"^\[\s*\d+\.\d+\]\s?")
RESULT_RE = re.compile(r"^(not ok|ok)\s+\d+\s*(?:-\s*)?([^#]*?)\s*(#\s*(.*))?$")
# The line that opens a suite: KUnit's "# Subtest: NAME" (depth 2 once split),
# or the kselftest runner's "# selftests: COLLECTION: TEST" (depth 1).
HEADER_RE = re.compile(r"^(?:Subtest: (\S+)|selftests: (\S+): (\S+))$")
SELFTEST_RE = re.compile(r"^selftests: (\S+): (\S+)$")


def suite_name(name):
    """The suite a top-level result line names: a KUnit suite as it is, a
    kselftest ("selftests: C: T") as C:T."""
    m = SELFTEST_RE.match(name)
    return f"{m.group(1)}:{m.group(2)}" if m else name


class Results:
    """Leaf results of nested KTAP/TAP output, and the suite of each.

    KUnit nests suites by indentation, kselftest's runner nests a program's
    TAP output behind "# ".  A result line that closes a block of deeper
    results is a summary of them and is not counted again; at the top level
    it names their suite (KUnit's suite, or the kselftest program as
    COLLECTION:TEST).  A top-level result without deeper ones is a suite of
    one case (a host check, a kselftest program that prints no TAP).  Cases
    whose suite never closed (the guest died) belong to the suite their
    header line opened.  A summary that says "not ok" over cases none of
    which failed (a program that crashed or timed out after its last case)
    is a failure of its own, not counted as a case.
    """

    def __init__(self):
        self.passed = []
        self.failed = []
        self.skipped = []
        self.cases = []  # [suite, name, "pass" | "fail" | "skip"]
        self._deepest = {}
        self._open = []  # cases of the suite not yet closed
        self._header = None  # the suite the last header line opened

    @staticmethod
    def split(line):
        """Returns (depth, text) for a console line."""
        line = TIMESTAMP_RE.sub("", line.rstrip("\r\n"))
        depth = 0
        while True:
            if line.startswith("    "):
                line = line[4:]
                depth += 1
            elif line.startswith("# "):
                line = line[2:]
                depth += 1
            elif line.startswith("\t"):
                line = line[1:]
                depth += 1
            else:
                return depth, line

    def feed(self, line):
        depth, text = self.split(line)
        h = HEADER_RE.match(text)
        if h and depth == (2 if h.group(1) else 1):
            self._header = h.group(1) or f"{h.group(2)}:{h.group(3)}"
            return None
        m = RESULT_RE.match(text)
        if not m:
            return None
        has_children = self._deepest.get(depth, -1) > depth
        for d in list(self._deepest):
            if d >= depth:
                self._deepest[d] = -1
            else:
                self._deepest[d] = max(self._deepest[d], depth)
        for d in range(depth):
            self._deepest.setdefault(d, depth)
        status, name, _, directive = m.groups()
        name = name.strip()
        directive = (directive or "").strip()
        skip = directive.upper().startswith("SKIP")
        if has_children:
            if depth == 0:
                return self._close(suite_name(name), name, status, skip)
            return None
        kind = "skip" if skip else "pass" if status == "ok" else "fail"
        {"skip": self.skipped, "pass": self.passed, "fail": self.failed}[kind].append(name)
        if depth == 0:
            self.cases.append([suite_name(name), name, kind])
            self._header = None
        else:
            self._open.append([self._header, name, kind])
            self.cases.append(self._open[-1])
        return kind

    def _close(self, suite, name, status, skip):
        """A top-level summary closes the cases opened since the last one."""
        cases, self._open, self._header = self._open, [], None
        for case in cases:
            case[0] = suite
        if status == "not ok" and not skip and all(c[2] != "fail" for c in cases):
            self.failed.append(name)
            return "fail"
        return None

    def suites(self):
        """{suite: (cases that ran, cases skipped)}."""
        counts = {}
        for suite, _, kind in self.cases:
            ran, skipped = counts.get(suite, (0, 0))
            counts[suite] = (ran + (kind != "skip"), skipped + (kind == "skip"))
        return counts


def read_expected(path, mode):
    """The rows of the declared list (host/expected-suites) for one boot:
    {suite: the fewest cases that must run}, in the file's order."""
    expected = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            fields = line.split("#", 1)[0].split()
            if not fields:
                continue
            if len(fields) != 3 or not fields[2].isdigit():
                raise ValueError(f"{path}:{n}: expected 'MODES SUITE CASES', got: {line.strip()}")
            modes = fields[0].split(",")
            bad = [m for m in modes if m not in MODES]
            if bad:
                raise ValueError(f"{path}:{n}: unknown mode {bad[0]!r}, expected one of {MODES}")
            if mode in modes:
                if fields[1] in expected:
                    raise ValueError(f"{path}:{n}: {fields[1]} twice for {mode}")
                expected[fields[1]] = int(fields[2])
    return expected


def kselftests(expected):
    """The kselftests (COLLECTION:TEST) among the declared suites."""
    return [s for s in expected if ":" in s]


def judge_suites(results, expected):
    """Compares the suites that ran with the declared ones.  Returns (lines
    to print, failures): a declared suite is missing or short (fewer cases
    ran than declared); a suite that ran undeclared is only noted."""
    found = results.suites()
    lines, failures = [], []
    for suite, want in expected.items():
        ran, skipped = found.get(suite, (0, 0))
        extra = f", {skipped} skipped" if skipped else ""
        if suite not in found:
            verdict = "MISSING"
            failures.append(f"suite {suite}: missing ({want} cases expected)")
        elif ran < want:
            verdict = "SHORT"
            failures.append(f"suite {suite}: short ({ran} of {want} cases ran{extra})")
        else:
            verdict = "ok"
        lines.append(f"  {verdict:8}{suite}: {ran} of {want} cases ran{extra}")
    for suite, (ran, skipped) in found.items():
        if suite is not None and suite not in expected and not suite.startswith("host: "):
            lines.append(f"  note    {suite}: {ran} cases ran, {skipped} skipped; not declared")
    return lines, failures


def watchdog_at(timeout):
    """Seconds of guest uptime at which the guest reports its blocked tasks:
    a minute before the runner's timeout kills QEMU."""
    return max(timeout - WATCHDOG_LEAD, timeout // 2)


def problems(lines):
    return [l.rstrip() for l in lines if PROBLEM_RE.search(l)]


def judge_cmma(watch, results):
    """The QEMU CMMA host's side of an essa boot, counted like tests: it
    dropped volatile and potentially volatile pages, the guest took
    discard faults (so the guest had discards to handle, through lookups
    and through mappings), and no device wrote a page it had dropped."""
    c = watch.last
    if c is None:
        print(f"error: no CMMA counters over QMP: {watch.error}")
        results.failed.append("host: CMMA counters read over QMP")
        return
    print("QEMU CMMA host (over QMP, last sample):")
    print("  ESSA by order code: " + ", ".join(
        f"{k[5:]} {v}" for k, v in c.items() if k.startswith("essa-")))
    print(f"  dropped: unused {c['dropped-unused']}, volatile {c['dropped-volatile']}, "
          f"potentially volatile {c['dropped-pot-volatile']}, now {c['dropped-now']}; "
          f"{c['reclaim-passes']} passes")
    print(f"  discard faults {c['discard-faults']}, potentially volatile pages written "
          f"{c['pot-volatile-written']}, DMA into dropped pages {c['dma-into-dropped']}")
    dropped = c["dropped-volatile"] > 0 and c["dropped-pot-volatile"] > 0
    (results.passed if dropped else results.failed).append(
        "host: the CMMA host dropped volatile and potentially volatile pages")
    faulted = c["discard-faults"] > 0
    (results.passed if faulted else results.failed).append(
        "host: the guest took discard faults")
    clean = c["dma-into-dropped"] == 0
    (results.passed if clean else results.failed).append(
        "host: no device wrote a page the CMMA host dropped")


def qemu_command(args):
    append = [
        "console=ttysclp0",
        "panic=-1",
        f"gph_scenario={args.scenario}",
    ]
    if args.cmm:
        # QEMU's CMMA delivers discard faults: the opt-in is true.
        append += ["gph_expect_backend=essa", "page_states_discard_faults=on",
                   f"gph_cmma_period_ms={CMMA_PERIOD_MS}"]
    else:
        # TCG has no ESSA: the page-state core must emulate the host.
        append += ["gph_expect_backend=emulated"]
    cmd = [
        args.qemu,
        "-M", "s390-ccw-virtio",
        "-accel", "tcg",
        "-cpu", "max,cmm=on" if args.cmm else "max",
        "-m", str(args.memory),
        "-smp", "2",
        "-nographic",
        "-no-reboot",
        "-kernel", args.kernel,
        "-initrd", args.initrd,
        "-append", " ".join(append + args.append),
        "-device", "virtio-balloon-ccw,free-page-reporting=on",
    ]
    if args.qmp:
        cmd += ["-qmp", f"unix:{args.qmp},server=on,wait=off"]
    if args.qemu != "qemu-system-s390x":
        # A QEMU built in .cache finds its firmware where Debian's is.
        cmd += ["-L", "/usr/share/qemu"]
    if args.disk:
        cmd += [
            "-drive", f"file={args.disk},if=none,id=disk0,format=raw",
            "-device", "virtio-blk-ccw,drive=disk0",
        ]
    return cmd


def boot(args, cmd, on_line=None):
    """Runs the guest; returns (console lines, the seconds since the start
    at which each came, timed out, finished, elapsed seconds).
    `on_line(line, proc)` sees each console line as it comes."""
    lines = []
    stamps = []
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    log = open(args.log, "w") if args.log else None

    def pump():
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace")
            stamps.append(time.monotonic() - start)
            lines.append(line)
            if on_line:
                on_line(line, proc)
            if log:
                log.write(line)
                log.flush()
            if args.verbose:
                sys.stdout.write(line)
                sys.stdout.flush()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        proc.wait(timeout=args.timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        timed_out = True
    reader.join(timeout=5)
    if log:
        log.close()
    finished = not timed_out and any(DONE in l for l in lines)
    return lines, stamps[:len(lines)], timed_out, finished, time.monotonic() - start


def judge_lines(results, lines):
    """Feeds the console to results; yields each failed verdict with the
    last FAILED_CONTEXT non-empty lines printed since the verdict before."""
    since_verdict = []
    for line in lines:
        kind = results.feed(line)
        if kind == "fail":
            yield line.strip(), since_verdict[-FAILED_CONTEXT:]
        if kind:
            since_verdict = []
        elif line.strip():
            since_verdict.append(line.rstrip())


def case_seconds(lines, stamps):
    """[(seconds, case)] for every case result on the console: the time
    from the verdict (or suite header) before it to its own verdict."""
    results = Results()
    times = []
    since = 0.0
    for line, at in zip(lines, stamps):
        header, known = results._header, len(results.cases)
        if results.feed(line):
            label = line.strip()
            if len(results.cases) > known:
                suite, name, _ = results.cases[-1]
                suite = suite or header
                label = suite if suite_name(name) == suite else f"{suite}: {name}"
            times.append((at - since, label))
            since = at
        elif results._header != header:
            since = at
    return times


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kernel", required=True)
    p.add_argument("--initrd", required=True)
    p.add_argument("--disk")
    p.add_argument("--scenario", default="run",
                   choices=["run", "check", "shell", "bench", "hotpath", "zpool", "compare"])
    p.add_argument("--mode", choices=MODES, help="boot with page_states=MODE "
                   "(essa: volatile, on --qemu with cmm=on)")
    p.add_argument("--qemu", default="qemu-system-s390x",
                   help="the QEMU binary (essa: host/qemu/build.sh's)")
    p.add_argument("--expected", help="the declared suites (host/expected-suites): "
                   "fail when one for --mode is missing or short, and run only "
                   "the kselftests declared for it")
    p.add_argument("--timeout", type=int, default=600, help="seconds")
    p.add_argument("--memory", type=int, default=1024, help="MiB")
    p.add_argument("--log", help="write the whole console here")
    p.add_argument("--summary", help="write 'PASSED FAILED SKIPPED' here")
    p.add_argument("--verbose", action="store_true", help="echo the console")
    p.add_argument("--append", action="append", default=[], help="extra kernel parameter")
    args = p.parse_args()

    expected = None
    if args.expected:
        if not args.mode:
            p.error("--expected needs --mode")
        try:
            expected = read_expected(args.expected, args.mode)
        except (OSError, ValueError) as e:
            p.error(str(e))
        args.append.append("gph_kselftests=" + (",".join(kselftests(expected)) or "none"))
    args.cmm = args.mode == "essa"
    args.qmp = None
    if args.cmm:
        if args.qemu == "qemu-system-s390x":
            p.error("--mode essa needs --qemu, a QEMU with CMMA (host/qemu/build.sh)")
        args.qmp = os.path.join(tempfile.mkdtemp(prefix="gph-qmp-"), "qmp.sock")
    if args.mode:
        args.append.append(f"page_states={'volatile' if args.cmm else args.mode}")
    if args.scenario == "check":
        args.append.append(f"gph_watchdog={watchdog_at(args.timeout)}")
    cmd = qemu_command(args)
    if args.scenario == "shell":
        os.execvp(cmd[0], cmd)

    watch = CmmaWatch(args.qmp, CMMA_PERIOD_MS) if args.qmp else None
    lines, stamps, timed_out, finished, elapsed = boot(args, cmd)
    results = Results()
    for verdict, logged in judge_lines(results, lines):
        print(f"FAILED: {verdict}")
        for l in logged:
            print(f"    {l}")
    if watch:
        judge_cmma(watch, results)

    # Two checks of the boot itself, counted like tests.
    watchdog = [l.rstrip() for l in lines if l.startswith(WATCHDOG)]
    if timed_out:
        tail = lines[-1].strip() if lines else "(no output)"
        print(f"error: timeout: the guest did not finish '{args.scenario}' within "
              f"{args.timeout}s; its last line was: {tail}")
        if watchdog:
            print("the guest's watchdog, a minute before the timeout:")
            for l in watchdog[:60]:
                print(f"  {l}")
    elif not finished:
        print(f"error: the guest stopped before finishing '{args.scenario}'"
              f" (no '{DONE}' line); see {args.log or 'the console'}")
    elif watchdog:
        print(f"note: the guest came within {WATCHDOG_LEAD}s of the timeout "
              f"({args.timeout}s); its watchdog's report is in the console")
    (results.passed if finished else results.failed).append("guest finished its scenario")
    found = problems(lines)
    if found:
        print(f"error: the kernel log has {len(found)} problem line(s):")
        for l in found[:20]:
            print(f"  {l}")
    (results.failed if found else results.passed).append("kernel log free of oops/BUG/WARNING/lockdep")
    if expected is not None:
        report, failures = judge_suites(results, expected)
        print(f"suites declared for page_states={args.mode} ({args.expected}):")
        for l in report:
            print(l)
        results.failed += failures
    elif args.scenario == "check" and len(results.passed) < 3:
        print("error: no test ran")
        results.failed.append("tests ran")
    if args.scenario == "check":
        print("slowest cases, seconds:")
        for seconds, case in sorted(case_seconds(lines, stamps), reverse=True)[:SLOWEST]:
            print(f"  {seconds:6.0f}  {case}")
    print(f"guest: {args.scenario} took {elapsed:.0f}s"
          + (f", console in {args.log}" if args.log else ""))
    if args.scenario == "check" or results.failed:
        line = f"{len(results.passed)} passed, {len(results.failed)} failed"
        if results.skipped:
            line += f", {len(results.skipped)} skipped"
        print(line)
    if args.summary:
        with open(args.summary, "w") as f:
            f.write(f"{len(results.passed)} {len(results.failed)} {len(results.skipped)}\n")
    sys.exit(1 if results.failed else 0)


if __name__ == "__main__":
    main()
