"""Contract suites: every registered meta-learner and algorithm is checked by being
registered (``checks.py`` holds the checks; the toy extension test reuses them)."""
