"""formcheck on the device: pose, features, windows, classifier, judge and outputs.

Imports here stay light (numpy only); heavy backends load when used.
"""

__version__ = "0.1.0"
