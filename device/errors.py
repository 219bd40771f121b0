"""The exception root: every error formcheck raises on purpose is a :class:`FormcheckError`.

Each subclass also inherits the built-in it refines (as gpiozero's do), so ``except ValueError``
written before this root existed still catches a bad config, bundle or spec.
"""

from __future__ import annotations


class FormcheckError(Exception):
    """Base of formcheck's own errors."""


class ConfigError(FormcheckError, ValueError):
    """A config file or override is invalid; ``problems`` lists every ``key: why`` message."""

    def __init__(self, problems: list[str] | str, source: str | None = None):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        head = f"{source}: " if source else ""
        if len(self.problems) == 1:
            super().__init__(head + self.problems[0])
        else:
            super().__init__(head + f"{len(self.problems)} problems:\n  " + "\n  ".join(self.problems))


class SpecError(FormcheckError, ValueError):
    """A feature spec this device cannot reproduce."""


class BundleError(FormcheckError, ValueError):
    """A model bundle is unusable; the message names the field."""


class ClassifierError(FormcheckError, RuntimeError):
    """A model cannot be loaded or run."""


class SourceError(FormcheckError, RuntimeError):
    """A source cannot be used at all (missing file, missing library, bad spec)."""


class PoseError(FormcheckError, RuntimeError):
    """A pose backend cannot be created or run (missing model file, bad option)."""


class StartupError(FormcheckError, RuntimeError):
    """The station cannot start; ``code`` is the exit code (2 usage/config, 1 fatal)."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code
