"""Runs every tests/integration/test_*.py with unittest and prints
"integration: N passed, M failed" as its last line."""
import os
import sys
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
pattern = sys.argv[1] if len(sys.argv) > 1 else "test_*.py"
suite = unittest.defaultTestLoader.discover(here, pattern=pattern)
result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
bad = len(result.failures) + len(result.errors)
print("integration: %d passed, %d failed" % (result.testsRun - bad, bad))
sys.exit(1 if bad or result.testsRun == 0 else 0)
