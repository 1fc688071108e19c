"""The inline SVG plots of report.html (matplotlib, no script): error per time step and the fuzz history.

Split out of conformance.report._html; every label from the report is untrusted and cleaned here.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

from conformance.report import _view as v

PLOT_NEEDS_MATPLOTLIB = ("The error-per-step plot needs matplotlib, which is not installed "
                         "(pip install 'lstm-conformance[reports]'); the table next to this note has the same numbers.")


def error_plot_svg(step_errors: Sequence[float | None], first_step: int | None, atol: float | None,
                   *, title: str, salt: str = "", lengths: Sequence[int] | None = None) -> str | None:
    """Max abs error of outputs per time step as an inline ``<svg>``; None when matplotlib is missing.

    Bars for short sequences, a line for long ones; the first divergent step is red;
    the dtype's ``atol`` is drawn for scale.  Symlog keeps exact zeros visible next to large errors.
    With row ``lengths``, steps past some row's end (t >= min(L)) are shaded: padding there.
    """
    fig = error_figure(step_errors, first_step, atol, title=title, lengths=lengths)
    return None if fig is None else _inline_svg(fig, f"plot{salt}-", "error per time step")


def error_figure(step_errors: Sequence[float | None], first_step: int | None, atol: float | None,
                 *, title: str, lengths: Sequence[int] | None = None) -> Any:
    """The matplotlib Figure of :func:`error_plot_svg` (None without matplotlib).

    It reads for any T: the legend sits above the axes, never over a bar (T = 1 is one bar); a
    sequence of a few steps keeps its bars narrow; a log axis labels every decade it spans, so
    T = 2 shows more than "0" and one tick.
    """
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        return None
    errors = [float("nan") if x is None else float(x) for x in step_errors]
    T = len(errors)
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "lstm-conformance", "font.size": 10}):
        fig = Figure(figsize=(7.2, 3.0), dpi=100)
        ax = fig.add_subplot()
        steps = list(range(T))
        colors = ["#b3261e" if first_step is not None and t == first_step else
                  ("#e8a39d" if first_step is not None and t > first_step else "#7a8c99") for t in steps]
        first_ok = first_step is not None and 0 <= first_step < T
        if T <= 60:
            ax.bar(steps, errors, color=colors, width=0.7)
        else:
            ax.plot(steps, errors, color="#7a8c99", linewidth=1.2)
        if first_ok and first_step is not None:  # drawn again on top so the legend can name it
            ax.plot([first_step], [errors[first_step]], "v", color="#b3261e", markersize=8,
                    label=f"first divergence (t={first_step})", linestyle="none")
        finite = [x for x in errors if x == x and x not in (float("inf"),)]
        positive = [x for x in finite if x > 0]
        if atol:
            ax.axhline(atol, color="#1e7d32", linestyle="--", linewidth=1, label=f"tolerance atol = {atol:g}")
        _log_axis(ax, positive + ([atol] if atol else []), has_zero=any(x == 0 for x in finite))
        shade_from = min(lengths) if lengths else None
        if shade_from is not None and shade_from < T:
            ax.axvspan(shade_from - 0.5, T - 0.5, color="#c9c9c9", alpha=0.35, linewidth=0,
                       label=f"padding in some row (t >= min(L) = {shade_from})")
        ax.set_xlabel("time step t")
        ax.set_ylabel("max |candidate - TF|")
        if T <= 30:
            ax.set_xticks(steps)
        # A few steps: keep each bar narrow (one bar alone would fill the axes).
        pad = max(0.0, (4 - T) / 2)
        ax.set_xlim(-0.5 - pad, T - 0.5 + pad) if T <= 4 else ax.margins(x=0.02)
        if atol or first_ok or (shade_from is not None and shade_from < T):
            # Above the axes, not inside them: inside, "best" still covers the only bar of T = 1.
            ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.01), ncol=2, frameon=False, fontsize=9,
                      borderaxespad=0.0)
            fig.suptitle(_plot_text(title), fontsize=10)
        else:
            ax.set_title(_plot_text(title), fontsize=10)
        fig.tight_layout()
        return fig


def _log_axis(ax: Any, positive: Sequence[float], *, has_zero: bool) -> None:
    """A log y axis when the values span more than 3 decades: plain log when nothing is 0, symlog
    (linear below the smallest value's decade, so 0 shows) otherwise; a tick labelled at every
    decade either way."""
    import math

    from matplotlib.ticker import LogFormatterSciNotation, LogLocator, NullFormatter, SymmetricalLogLocator

    if not positive or max(positive) / max(min(positive), 1e-300) <= 1e3:
        return
    low = 10.0 ** math.floor(math.log10(max(min(positive), 1e-300)))
    if has_zero:
        ax.set_yscale("symlog", linthresh=low, linscale=0.5)
        ax.set_ylim(0.0, max(positive) * 3)  # headroom: the tallest bar and its marker stay inside
        ax.yaxis.set_major_locator(SymmetricalLogLocator(base=10, linthresh=low, subs=[1.0]))
        decades = math.log10(max(positive) / low)
        if decades > 8:  # a label every few decades keeps them legible
            step = math.ceil(decades / 8)
            ax.yaxis.set_major_locator(_decades(low, step))
    else:
        ax.set_yscale("log")
        ax.set_ylim(low * 0.3, max(positive) * 3)  # the atol line is never the axis' own edge
        ax.yaxis.set_major_locator(LogLocator(base=10, numticks=12))
        ax.yaxis.set_major_formatter(LogFormatterSciNotation(base=10))
        ax.yaxis.set_minor_formatter(NullFormatter())


def _decades(low: float, step: int) -> Any:
    """A locator with 0 and every ``step``-th decade from ``low`` up."""
    from matplotlib.ticker import FixedLocator

    return FixedLocator([0.0] + [low * 10.0 ** k for k in range(0, 600, step) if low * 10.0 ** k < 1e300])


def _inline_svg(fig: Any, id_prefix: str, label: str) -> str:
    """A matplotlib Figure as an ``<svg>`` element to inline into the page (ids made unique)."""
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]  # drop the XML declaration and DOCTYPE: it is inlined into HTML
    svg = _prefix_ids(svg, id_prefix)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{html.escape(label, quote=True)}" ', 1)


def history_plot_svg(series: Sequence[Mapping[str, Any]]) -> str | None:
    """The fuzz error history: each slice's largest error / allowed error per run, as an inline
    ``<svg>`` (1 is the tolerance: a climb toward it is accuracy drifting); None without matplotlib."""
    try:
        import matplotlib
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        return None
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "lstm-conformance", "font.size": 10}):
        fig = Figure(figsize=(7.2, 3.0), dpi=100)
        ax = fig.add_subplot()
        for s in series:
            points = s.get("points") or []
            scores = [float("nan") if p.get("max_score") is None else float(p["max_score"]) for p in points]
            label = _plot_text(f"{v.clean(s.get('target'))} {v.clean(s.get('feature'))}/{v.clean(s.get('dtype'))}")
            ax.plot(range(1, len(scores) + 1), scores, marker="o", markersize=4, linewidth=1.2, label=label)
        ax.axhline(1.0, color="#b3261e", linestyle="--", linewidth=1, label="tolerance (1)")
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("fuzz run (oldest first)")
        ax.set_ylabel("max error / allowed")
        ax.set_title("error history per target, feature and dtype", fontsize=10)
        if len(series) <= 8:
            ax.legend(loc="best", frameon=True, framealpha=0.9, fontsize=8)
        return _inline_svg(fig, "history-", "error history per fuzz run")


def _prefix_ids(svg: str, prefix: str) -> str:
    """Make every id of an inline SVG (and each reference to it) unique to this plot.

    matplotlib numbers its elements per figure (``figure_1``, ``line2d_1``...), so two
    plots inlined in one page would otherwise share ids and clip each other.
    """
    ids = set(re.findall(r'\bid="([^"]+)"', svg))
    if not ids:
        return svg
    pattern = "|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True))
    svg = re.sub(rf'\bid="({pattern})"', lambda m: f'id="{prefix}{m.group(1)}"', svg)
    return re.sub(rf'#({pattern})(?=[")])', lambda m: f"#{prefix}{m.group(1)}", svg)


def _plot_text(text: Any) -> str:
    """Untrusted text for a matplotlib title or label: cleaned, one line, ``$`` not read as mathtext."""
    return v.one_line(text, 200).replace("$", r"\$")
