"""One exception root: every error formcheck raises on purpose is a FormcheckError and still
the built-in it refines, importable from where it is used."""

from __future__ import annotations

import pytest

from formcheck.device import errors as E
from formcheck.device.app.config import ConfigError
from formcheck.device.capture.sources import SourceError, open_source
from formcheck.device.judging.bundle import BundleError
from formcheck.device.judging.classifier import ClassifierError
from formcheck.device.judging.features import FeatureSpec, SpecError
from formcheck.device.pose.landmarks import PoseError, create_estimator


@pytest.mark.parametrize(("cls", "builtin"), [
    (E.ConfigError, ValueError), (E.SpecError, ValueError), (E.BundleError, ValueError),
    (E.ClassifierError, RuntimeError), (E.SourceError, RuntimeError), (E.PoseError, RuntimeError),
    (E.StartupError, RuntimeError),
])
def test_every_error_is_a_formcheck_error_and_its_builtin(cls, builtin):
    assert issubclass(cls, E.FormcheckError) and issubclass(cls, builtin)


def test_the_names_where_they_are_used_are_the_same_classes(tmp_path):
    assert (ConfigError, SourceError, BundleError, ClassifierError, SpecError, PoseError) == (
        E.ConfigError, E.SourceError, E.BundleError, E.ClassifierError, E.SpecError, E.PoseError)
    with pytest.raises(E.FormcheckError):
        open_source(str(tmp_path / "missing.mp4"))
    with pytest.raises(E.FormcheckError):
        FeatureSpec(window=0)
    with pytest.raises(E.FormcheckError):
        create_estimator("no-such-backend")
