"""formcheck on the device: pose, features, windows, classifier, judge and outputs.

Imports here stay light (numpy only); heavy backends load when used.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("formcheck")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
