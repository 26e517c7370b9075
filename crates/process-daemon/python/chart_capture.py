"""processd code-run runner: runs user Python code and captures its matplotlib charts.

Usage (by the daemon only):  python -u chart_capture.py CHARTS_FILE CODE_FILE [ARGV...]

* The user code is read from CODE_FILE (never from argv, so there is no ARG_MAX limit) and runs
  as `__main__` with `sys.argv == ['-', *ARGV]`, like `python -`.
* Charts are written to CHARTS_FILE, one artifact line per chart
  (`dtn_artifact_k39fd2:{"type": "chart", "value": {...}}`), never to stdout, so nothing the
  program prints can forge a chart.
* Charts are captured on every `plt.show()` and, at the end of the program, for every figure that
  is still open (a script that never calls `show()` still returns its charts).
* matplotlib always uses the non-interactive Agg backend.
* Tracebacks show the user's code (file `<code>`), not this runner.

Chart kinds: line, scatter, bar (values as strings), pie (labels and autopct texts taken from
the `pie()` call itself), box_and_whisker (statistics taken from the `bxp()` call, for both
default and `patch_artist=True` box plots), composite_chart (one full sub-chart per axes), and
unknown. Date axes report numeric ticks (matplotlib date numbers) with scale `datetime`.
"""

import base64
import io
import json
import linecache
import math
import os
import sys
import traceback
import types

ARTIFACT_PREFIX = "dtn_artifact_k39fd2:"

# Stashed results of the plotting calls we observe, keyed by id(axes).
_PIE_CALLS = {}
_BOX_CALLS = {}
_charts_out = None
_pyplot = None


# --------------------------------------------------------------------------------------------
# JSON helpers


def _num(value):
    """A finite float (or int) for JSON, or None."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(f):
        return None
    if f.is_integer() and abs(f) < 2**53:
        return int(f)
    return f


def _num_list(values):
    out = []
    for v in values:
        n = _num(v)
        if n is not None:
            out.append(n)
    return out


def _num_str(value):
    n = _num(value)
    if n is None:
        return None
    return str(n)


def _points(xy):
    out = []
    for row in xy:
        try:
            x, y = _num(row[0]), _num(row[1])
        except (IndexError, TypeError):
            continue
        if x is None or y is None:
            continue
        out.append([x, y])
    return out


def _text(t):
    try:
        return t.get_text()
    except Exception:  # noqa: BLE001 - a broken artist must not break the user's program
        return ""


def _public_label(label):
    """matplotlib's automatic labels (`_child3`, `_container0`, `_nolegend_`) mean "no label"."""
    if not isinstance(label, str):
        return ""
    return label


# --------------------------------------------------------------------------------------------
# Axis metadata


def _axis_scale(axes, which):
    import matplotlib.dates as mdates

    axis = axes.xaxis if which == "x" else axes.yaxis
    try:
        converter = axis.get_converter() if hasattr(axis, "get_converter") else axis.converter
    except Exception:  # noqa: BLE001
        converter = None
    date_types = tuple(
        t
        for t in (
            getattr(mdates, "DateConverter", None),
            getattr(mdates, "ConciseDateConverter", None),
            getattr(mdates, "_SwitchableDateConverter", None),
        )
        if isinstance(t, type)
    )
    if (date_types and isinstance(converter, date_types)) or isinstance(
        axis.get_major_locator(), mdates.DateLocator
    ):
        return "datetime"
    try:
        import matplotlib.category as mcat

        if isinstance(converter, mcat.StrCategoryConverter) or isinstance(
            getattr(axis, "units", None), mcat.UnitData
        ):
            return "categorical"
    except Exception:  # noqa: BLE001
        pass
    return axis.get_scale()


def _ticks(axes, which):
    axis = axes.xaxis if which == "x" else axes.yaxis
    try:
        locs = list(axis.get_ticklocs())
        labels = [_text(t) for t in axis.get_ticklabels()]
    except Exception:  # noqa: BLE001
        return [], []
    ticks, texts = [], []
    for i, loc in enumerate(locs):
        n = _num(loc)
        if n is None:
            continue
        ticks.append(n)
        texts.append(labels[i] if i < len(labels) else "")
    return ticks, texts


def _tick_label_at(axes, which, position):
    """The tick label drawn at `position` on the axis, if there is one there."""
    ticks, texts = _ticks(axes, which)
    for loc, text in zip(ticks, texts):
        if abs(loc - position) < 1e-9 and text:
            return text
    n = _num(position)
    return "" if n is None else str(n)


# --------------------------------------------------------------------------------------------
# Elements per chart kind


def _box_elements(axes, calls):
    elements = []
    for stats_list, positions in calls:
        for i, stats in enumerate(stats_list):
            label = stats.get("label")
            if label is None:
                pos = positions[i] if positions is not None and i < len(positions) else i + 1
                vertical = True
                label = _tick_label_at(axes, "x" if vertical else "y", pos)
            elements.append(
                {
                    "label": str(label),
                    "min": _num(stats.get("whislo")),
                    "first_quartile": _num(stats.get("q1")),
                    "median": _num(stats.get("med")),
                    "third_quartile": _num(stats.get("q3")),
                    "max": _num(stats.get("whishi")),
                    "outliers": _num_list(stats.get("fliers", [])),
                }
            )
    return elements


def _pie_elements(calls):
    elements = []
    for wedges, texts, autotexts in calls:
        for i, wedge in enumerate(wedges):
            label = _text(texts[i]) if i < len(texts) else ""
            if not label:
                label = _public_label(wedge.get_label())
            element = {
                "label": label,
                "angle": _num(abs(wedge.theta2 - wedge.theta1)),
                "radius": _num(wedge.r),
            }
            if autotexts is not None and i < len(autotexts):
                element["autopct"] = _text(autotexts[i])
            elements.append(element)
    return elements


def _bar_elements(axes, containers):
    elements = []
    for container in containers:
        orientation = getattr(container, "orientation", None) or "vertical"
        group = container.get_label() or ""
        for rect in container.patches:
            if orientation == "horizontal":
                value = rect.get_width()
                center = rect.get_y() + rect.get_height() / 2.0
                label = _tick_label_at(axes, "y", center)
            else:
                value = rect.get_height()
                center = rect.get_x() + rect.get_width() / 2.0
                label = _tick_label_at(axes, "x", center)
            elements.append({"label": label, "group": group, "value": _num_str(value) or ""})
    return elements


def _is_axis_parallel_segment(line):
    try:
        xy = line.get_xydata()
    except Exception:  # noqa: BLE001
        return False
    if len(xy) != 2:
        return False
    (x0, y0), (x1, y1) = xy[0], xy[1]
    return x0 == x1 or y0 == y1


def _line_elements(lines):
    return [
        {"label": line.get_label(), "points": _points(line.get_xydata())}
        for line in lines
    ]


def _scatter_elements(collections):
    elements = []
    for coll in collections:
        try:
            offsets = coll.get_offsets()
        except Exception:  # noqa: BLE001
            continue
        elements.append({"label": coll.get_label(), "points": _points(offsets)})
    return elements


def _axes_chart(axes):
    from matplotlib.collections import PathCollection
    from matplotlib.container import BarContainer

    chart = {
        "title": axes.get_title() or axes.get_title("left") or axes.get_title("right"),
        "x_label": axes.get_xlabel(),
        "y_label": axes.get_ylabel(),
    }
    x_ticks, x_labels = _ticks(axes, "x")
    y_ticks, y_labels = _ticks(axes, "y")
    chart.update(
        {
            "x_ticks": x_ticks,
            "x_tick_labels": x_labels,
            "x_scale": _axis_scale(axes, "x"),
            "y_ticks": y_ticks,
            "y_tick_labels": y_labels,
            "y_scale": _axis_scale(axes, "y"),
        }
    )

    box_calls = _BOX_CALLS.get(id(axes), [])
    pie_calls = _PIE_CALLS.get(id(axes), [])
    box_artist_ids = set()
    for _stats, _pos, artists in [(c[0], c[1], c[2]) for c in box_calls]:
        for group in artists.values():
            for artist in group:
                box_artist_ids.add(id(artist))

    if box_calls:
        chart["type"] = "box_and_whisker"
        chart["elements"] = _box_elements(axes, [(c[0], c[1]) for c in box_calls])
        return chart
    if pie_calls:
        chart["type"] = "pie"
        chart["elements"] = _pie_elements(pie_calls)
        return chart

    bars = [c for c in axes.containers if isinstance(c, BarContainer)]
    bar_patch_ids = {id(p) for c in bars for p in c.patches}
    lines = [
        line
        for line in axes.lines
        if id(line) not in box_artist_ids and not _is_axis_parallel_segment(line)
    ]
    scatters = [c for c in axes.collections if isinstance(c, PathCollection)]
    other_patches = [p for p in axes.patches if id(p) not in bar_patch_ids]

    kinds = []
    if lines:
        kinds.append("line")
    if scatters:
        kinds.append("scatter")
    if bars:
        kinds.append("bar")
    if len(kinds) == 1 and not (other_patches and kinds[0] != "bar"):
        kind = kinds[0]
    elif not kinds:
        kind = "unknown" if (other_patches or axes.collections or axes.images) else "line"
    else:
        kind = "unknown"

    elements = []
    if kind in ("line", "unknown"):
        elements += _line_elements(lines)
    if kind in ("scatter", "unknown"):
        elements += _scatter_elements(scatters)
    if kind in ("bar", "unknown"):
        elements += _bar_elements(axes, bars)
    chart["type"] = kind
    chart["elements"] = elements
    return chart


def _chart_axes(figure):
    axes = []
    for ax in figure.axes:
        if hasattr(ax, "_colorbar") or getattr(ax, "_colorbar_info", None) is not None:
            continue
        if not ax.get_visible():
            continue
        axes.append(ax)
    if len(axes) > 1:
        with_data = [
            ax
            for ax in axes
            if ax.has_data() or id(ax) in _PIE_CALLS or id(ax) in _BOX_CALLS or ax.get_title()
        ]
        axes = with_data or axes[:1]
    return axes


def _figure_chart(figure):
    figure.canvas.draw()  # populates tick labels
    suptitle = figure._suptitle.get_text() if getattr(figure, "_suptitle", None) else ""
    axes = _chart_axes(figure)
    if not axes:
        chart = {"type": "unknown", "title": suptitle or None, "elements": []}
    elif len(axes) == 1:
        chart = _axes_chart(axes[0])
        if not chart.get("title") and suptitle:
            chart["title"] = suptitle
    else:
        chart = {
            "type": "composite_chart",
            "title": suptitle or None,
            "elements": [_axes_chart(ax) for ax in axes],
        }
    buf = io.BytesIO()
    figure.savefig(buf, format="png", bbox_inches="tight", dpi=100)
    chart["png"] = base64.b64encode(buf.getvalue()).decode("ascii")
    return chart


def _emit_open_figures():
    """Writes one artifact line per open figure, then closes them all."""
    plt = _pyplot
    if plt is None or _charts_out is None:
        return
    for num in list(plt.get_fignums()):
        figure = plt.figure(num)
        try:
            chart = _figure_chart(figure)
        except Exception as err:  # noqa: BLE001 - report, never crash the user's program
            sys.stderr.write("processd: could not capture a chart: %s\n" % (err,))
            continue
        line = json.dumps({"type": "chart", "value": chart}, allow_nan=False, default=str)
        _charts_out.write(ARTIFACT_PREFIX + line + "\n")
        _charts_out.flush()
    plt.close("all")
    _PIE_CALLS.clear()
    _BOX_CALLS.clear()


# --------------------------------------------------------------------------------------------
# Hooks into matplotlib


def _patch_matplotlib(pyplot):
    global _pyplot
    from matplotlib.axes import Axes

    _pyplot = pyplot
    original_pie = Axes.pie
    original_bxp = Axes.bxp

    def pie(self, *args, **kwargs):
        result = original_pie(self, *args, **kwargs)
        try:
            # A tuple before matplotlib 3.11, a PieContainer (also iterable) since.
            parts = list(result)
            wedges = list(parts[0])
            texts = list(parts[1]) if len(parts) > 1 else []
            autotexts = list(parts[2]) if len(parts) > 2 else None
            _PIE_CALLS.setdefault(id(self), []).append((wedges, texts, autotexts))
        except Exception:  # noqa: BLE001 - capture is best effort, the user's call is not
            pass
        return result

    def bxp(self, bxpstats, positions=None, *args, **kwargs):
        result = original_bxp(self, bxpstats, positions, *args, **kwargs)
        try:
            stats = [dict(s) for s in bxpstats]
            pos = list(positions) if positions is not None else None
            _BOX_CALLS.setdefault(id(self), []).append((stats, pos, result))
        except Exception:  # noqa: BLE001 - capture is best effort, the user's call is not
            pass
        return result

    pie.__doc__ = original_pie.__doc__
    bxp.__doc__ = original_bxp.__doc__
    Axes.pie = pie
    Axes.bxp = bxp

    def show(*args, **kwargs):
        _emit_open_figures()

    show.__doc__ = pyplot.show.__doc__
    pyplot.show = show


class _PyplotFinder:
    """A meta-path finder that patches `matplotlib.pyplot` right after it is first imported."""

    def find_spec(self, name, path=None, target=None):
        if name != "matplotlib.pyplot":
            return None
        sys.meta_path.remove(self)
        import importlib.util

        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader

        class _Loader:
            def create_module(self, spec):
                return loader.create_module(spec)

            def exec_module(self, module):
                loader.exec_module(module)
                try:
                    _patch_matplotlib(module)
                except Exception as err:  # noqa: BLE001
                    sys.stderr.write("processd: chart capture disabled: %s\n" % (err,))

        spec.loader = _Loader()
        return spec

    def invalidate_caches(self):
        pass


# --------------------------------------------------------------------------------------------
# Running the user's code


def _user_traceback(exc):
    """Prints `exc` the way `python -` would, without this runner's frames."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb)


def _run(code_path, argv):
    with open(code_path, "rb") as f:
        source = f.read()
    filename = "<code>"
    text = source.decode("utf-8", errors="replace")
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)

    main = types.ModuleType("__main__")
    main.__builtins__ = __builtins__
    main.__file__ = filename
    sys.modules["__main__"] = main
    sys.argv = ["-"] + list(argv)
    sys.path[0] = ""

    status = 0
    try:
        code = compile(source, filename, "exec", dont_inherit=True)
        exec(code, main.__dict__)  # noqa: S102 - running the user's code is the point
    except SystemExit as exc:
        code = exc.code
        if code is None:
            status = 0
        elif isinstance(code, int):
            status = code
        else:
            sys.stderr.write("%s\n" % (code,))
            status = 1
    except BaseException as exc:  # noqa: BLE001 - report like the interpreter does
        _user_traceback(exc)
        status = 1
    try:
        _emit_open_figures()
    except Exception as err:  # noqa: BLE001
        sys.stderr.write("processd: could not capture charts: %s\n" % (err,))
    return status


def main():
    global _charts_out
    if len(sys.argv) < 3:
        sys.stderr.write("usage: chart_capture.py CHARTS_FILE CODE_FILE [ARGV...]\n")
        return 2
    charts_path, code_path, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
    os.environ["MPLBACKEND"] = "Agg"
    _charts_out = open(charts_path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the program
    sys.meta_path.insert(0, _PyplotFinder())
    status = _run(code_path, argv)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # noqa: BLE001
        pass
    _charts_out.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
