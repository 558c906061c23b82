"""Role views: frozen view models built from progress records, and their
text, JSON and self-contained HTML renderings (spec: Progress Reporting
Interfaces, UX and accessibility requirements).

Every figure carries display text and a screen-reader sentence; colour is
never the only signal. See ``docs/howto-views.md``.
"""

from __future__ import annotations

from ._html import *  # noqa: F403
from ._html import __all__ as _html_all
from ._views import *  # noqa: F403
from ._views import __all__ as _views_all

__all__ = sorted({*_views_all, *_html_all})
