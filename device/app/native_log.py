"""Native libraries (TFLite's XNNPACK notice, absl/glog lines from mediapipe) write to file
descriptor 2 directly, past Python's logging. :func:`native_chatter_to_debug` keeps those lines
off the terminal and the journal below ``-v`` while the station loads its models."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile

log = logging.getLogger(__name__)

# "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.", absl/glog "W0000 00:00:... file.cc:12]",
# "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
NATIVE_LINE = re.compile(r"^(INFO: Created TensorFlow Lite|[IWEF]\d{4} [\d:.]+ +\d+ \S+:\d+\]|"
                         r"WARNING: All log messages before absl::InitializeLog)")


@contextlib.contextmanager
def native_chatter_to_debug(enabled: bool = True):
    """Within the block, fd 2 goes to a temporary file; afterwards native lines are logged at
    DEBUG and every other line (Python's own log output) is written to stderr as it was."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # stderr replaced (tests) or closed
        fd = -1
    if not enabled or fd < 0:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), fd)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            tmp.seek(0)
            kept = []
            for line in tmp.read().decode("utf-8", errors="replace").splitlines():
                if NATIVE_LINE.match(line):
                    log.debug("native: %s", line)
                else:
                    kept.append(line)
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")
                sys.stderr.flush()
