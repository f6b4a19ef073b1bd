"""The skops loader refuses what skops itself would run: the gadgets are live under
skops' own check, and an allowlisted name that is no class is refused.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import pytest
import skops.io as sio

import automl_meta.space  # noqa: F401  (registers the algorithms whose classes SAVED_MODEL allows)
from automl_meta._support.safe_skops import SAVED_MODEL, Allowlist, load_skops
from automl_meta.errors import ArtifactError
from tests._support._skops_gadgets import _gadgets, _nested, _write_skops


def test_the_gadgets_are_live_under_skops_own_check(tmp_path: Path) -> None:
    """Without our check (trusting what skops reports, as the old prefix rule did), the
    numpy reduce gadget does run: the test above would catch a real regression."""
    marker = tmp_path / "ran.txt"
    schema, base = _nested(_gadgets(marker)["numpy runstring (reduce)"])
    path = _write_skops(tmp_path / "gadget.skops", schema, base=base)
    untrusted = sio.get_untrusted_types(file=str(path))
    assert all(t.startswith(("numpy.", "sklearn.")) for t in untrusted)  # the old allowlist
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # runstring returns None, so building the estimator around it fails, after it ran
        with contextlib.suppress(Exception):
            sio.load(str(path), trusted=untrusted)
    assert marker.read_text() == "ran"


def test_an_allowlisted_name_that_is_a_function_is_refused(tmp_path: Path) -> None:
    """Even a name in the allowlist is refused unless it resolves to a class."""
    marker = tmp_path / "ran.txt"
    sneaky = Allowlist("a test artifact", SAVED_MODEL.classes
                       | {"numpy.testing._private.utils.runstring"})
    schema, base = _nested(_gadgets(marker)["numpy runstring (reduce)"])
    path = _write_skops(tmp_path / "gadget.skops", schema, base=base)
    with pytest.raises(ArtifactError, match="not the expected class"):
        load_skops(path, sneaky, "")
    assert not marker.exists()
