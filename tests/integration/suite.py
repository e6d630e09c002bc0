"""A named list of test functions and the loop that runs them: each test is
one pass or one failure, its name and time printed on an "ok"/"FAIL" line,
and the closing line "<tag>: N passed, M failed" that tests/run-py counts.

    tests = suite.Suite("oip")
    @tests.test
    def some_case(env): suite.check(cond, "what went wrong %d", value)
    ...
    return tests.run(lambda fn: fn(env), k=opts.k, after=env.close_all)
"""

import sys
import time
import traceback


class Fail(AssertionError):
    """A test's own verdict: printed without a traceback."""


def check(cond, fmt, *args):
    if not cond:
        raise Fail(fmt % args if args else fmt)


class Suite:
    def __init__(self, tag):
        self.tag = tag
        self.tests = []
        self.passed = 0
        self.failed = 0

    def test(self, fn):
        self.tests.append(fn)
        return fn

    def run(self, call, k="", after=None):
        """Calls call(fn) for every test whose name has k; after() follows
        each test, passed or not."""
        for fn in self.tests:
            if k not in fn.__name__:
                continue
            t0 = time.monotonic()
            try:
                call(fn)
                self.passed += 1
                print("ok   %-58s %6.2fs" % (fn.__name__,
                                             time.monotonic() - t0))
            except Exception as e:  # one broken test is one failure
                self.failed += 1
                print("FAIL %s: %s" % (fn.__name__, e))
                if not isinstance(e, Fail):
                    traceback.print_exc(limit=4, file=sys.stdout)
            finally:
                if after is not None:
                    after()

    def fail(self, what):
        """A failure outside any one test (the daemon would not start)."""
        self.failed += 1
        print("%s: %s" % (self.tag, what))

    def finish(self, notes=()):
        for line in notes:
            print("%s: %s" % (self.tag, line))
        print("%s: %d passed, %d failed" % (self.tag, self.passed,
                                            self.failed))
        return 0 if self.failed == 0 else 1


class Results:
    """Checks counted one by one (for tests that are one long scenario):
    each prints "ok: what" or "FAIL: what" and returns ok."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what):
        if ok:
            self.passed += 1
            print(f"ok: {what}")
        else:
            self.failed += 1
            print(f"FAIL: {what}")
        return ok
