"""The tests of automl_meta: one directory per package (``tests/data`` for
``automl_meta.data``, ...), cross-package checks at the top, shared fixtures in
``tests/conftest.py`` (import helpers as ``from tests.conftest import ...``)."""
