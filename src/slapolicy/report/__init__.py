"""The audit page: what executives read.

``model`` gathers what an audit wrote, ``charts`` draws SVG, ``i18n`` words and
formats it in the policy's locale, ``html`` writes the self-contained page and
the published wrapper that adds the sign-off state. Presentation only: every
figure and verdict comes from ``slapolicy.audit``.
"""

from __future__ import annotations

from slapolicy.report.html import OUTPUT_KEY, Rendered, page, publish, render_report

__all__ = ["OUTPUT_KEY", "Rendered", "page", "publish", "render_report"]
