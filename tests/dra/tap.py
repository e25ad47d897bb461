# SPDX-License-Identifier: LGPL-2.1-or-later
"""TAP output for the vbus-dra tests."""
import sys


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, what):
        self.n += 1
        print(f"ok {self.n} - {what}", flush=True)

    def not_ok(self, what, diag=()):
        self.n += 1
        self.failed += 1
        print(f"not ok {self.n} - {what}", flush=True)
        for d in diag:
            for line in str(d).splitlines() or [""]:
                print(f"# {line}", flush=True)

    def check(self, cond, what, diag=()):
        if cond:
            self.ok(what)
        else:
            self.not_ok(what, diag)
        return bool(cond)

    def diag(self, text):
        for line in str(text).splitlines():
            print(f"# {line}", flush=True)

    def finish(self):
        print(f"1..{self.n}", flush=True)
        sys.exit(1 if self.failed else 0)
