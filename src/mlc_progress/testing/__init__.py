"""Public testing helpers for code built on mlc_progress.

``mlc_progress.testing.strategies`` holds Hypothesis strategies for every
record and input; it needs the ``testing`` extra (``pip install
mlc-progress[testing]``). This package itself imports nothing optional.
"""

from __future__ import annotations
