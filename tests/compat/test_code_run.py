"""`Process.code_run` of the official SDK against processd: results and typed charts (§6)."""

from daytona import (
    BarChart,
    BoxAndWhiskerChart,
    ChartType,
    CodeRunParams,
    CompositeChart,
    LineChart,
    PieChart,
    ScatterChart,
)

LINE_CHART_CODE = """
import matplotlib.pyplot as plt
import numpy as np

x = np.linspace(0, 10, 30)
y = np.sin(x)

plt.figure(figsize=(8, 5))
plt.plot(x, y, 'b-', linewidth=2)
plt.title('Line Chart')
plt.xlabel('X-axis (seconds)')
plt.ylabel('Y-axis (amplitude)')
plt.grid(True)
plt.show()
"""


def test_code_run_sum(process):
    response = process.code_run('''
x = 10
y = 20
print(f"Sum: {x + y}")
''')
    assert response.exit_code == 0
    assert response.result == "Sum: 30\n"
    assert response.artifacts.stdout == "Sum: 30\n"
    assert response.artifacts.charts == []


def test_code_run_seed_snippets_exactly_as_printed(process):
    """The seeds print the code indented inside the triple-quoted string (001_33f4345e71fa771b.txt
    and 000_2c5181d440a89deb.txt); pasted as is, it must run as documented."""
    sandbox_process = process
    response = sandbox_process.code_run('''
    x = 10
    y = 20
    print(f"Sum: {x + y}")
''')
    assert response.exit_code == 0, response.result
    print(response.artifacts.stdout)  # Prints: Sum: 30
    assert response.artifacts.stdout == "Sum: 30\n"

    response = sandbox_process.code_run('''
    import matplotlib.pyplot as plt
    plt.plot([1,2,3])
    plt.show()
''')
    assert response.exit_code == 0, response.result
    chart = response.artifacts.charts[0]
    assert chart.type == ChartType.LINE


def test_code_run_argv_and_env(process):
    params = CodeRunParams(argv=["a b", "$HOME"], env={"GREETING": "hi"})
    response = process.code_run(
        "import os, sys\nprint(sys.argv[1:], os.environ['GREETING'])", params=params
    )
    assert response.result == "['a b', '$HOME'] hi\n"


def test_code_run_error_exit_code(process):
    response = process.code_run("raise SystemExit(4)")
    assert response.exit_code == 4


def test_line_chart_of_the_documentation(process):
    response = process.code_run(LINE_CHART_CODE)
    assert response.exit_code == 0
    assert len(response.artifacts.charts) == 1
    chart = response.artifacts.charts[0]
    assert chart.type == ChartType.LINE
    assert isinstance(chart, LineChart)
    assert chart.title == "Line Chart"
    assert chart.x_label == "X-axis (seconds)"
    assert chart.y_label == "Y-axis (amplitude)"
    assert chart.x_scale == "linear" and chart.y_scale == "linear"
    assert len(chart.x_ticks) == len(chart.x_tick_labels) > 0
    assert all(isinstance(t, (int, float)) for t in chart.y_ticks)
    assert len(chart.elements) == 1
    assert len(chart.elements[0].points) == 30
    assert chart.png.startswith("iVBORw0KGgo")


def test_every_chart_kind_is_typed_by_the_sdk(process):
    code = """
import matplotlib.pyplot as plt
import numpy as np
np.random.seed(0)
plt.figure(); plt.scatter([1, 2, 3], [4, 5, 6], label='A'); plt.title('Scatter'); plt.show()
plt.figure(); plt.bar(['a', 'b', 'c'], [3, 7, 5], label='sales'); plt.title('Bar'); plt.show()
plt.figure(); plt.pie([30, 50, 20], labels=['x', 'y', 'z'], autopct='%1.1f%%'); plt.title('Pie'); plt.show()
plt.figure(); plt.boxplot([np.random.randn(20), np.random.randn(20) + 2]); plt.title('Box'); plt.show()
fig, (l, r) = plt.subplots(1, 2)
l.plot([1, 2, 3], [1, 4, 9], label='sq'); l.set_title('left')
r.bar(['p', 'q'], [2, 3]); r.set_title('right')
fig.suptitle('Composite')
# no plt.show(): the figure still open at exit is captured
"""
    response = process.code_run(code)
    assert response.exit_code == 0, response.result
    charts = response.artifacts.charts
    assert [type(c) for c in charts] == [
        ScatterChart,
        BarChart,
        PieChart,
        BoxAndWhiskerChart,
        CompositeChart,
    ]
    scatter, bar, pie, box, composite = charts
    assert scatter.elements[0].points == [[1, 4], [2, 5], [3, 6]]
    assert [(e.label, e.value, e.group) for e in bar.elements] == [
        ("a", "3", "sales"),
        ("b", "7", "sales"),
        ("c", "5", "sales"),
    ]
    assert [e.label for e in pie.elements] == ["x", "y", "z"]
    assert [e.angle for e in pie.elements] == [108, 180, 72]
    assert [e.additional_properties.get("autopct") for e in pie.elements] == ["30.0%", "50.0%", "20.0%"]
    assert len(box.elements) == 2
    for e in box.elements:
        assert e.min <= e.first_quartile <= e.median <= e.third_quartile <= e.max
    assert composite.title == "Composite"
    assert [e.type for e in composite.elements] == ["line", "bar"]
    assert composite.elements[0].additional_properties["elements"][0]["points"] == [[1, 1], [2, 4], [3, 9]]


def test_date_axes_do_not_crash(process):
    code = """
import datetime as dt
import matplotlib.pyplot as plt
plt.plot([dt.date(2024, 1, 1), dt.date(2024, 1, 5)], [1, 2])
plt.title('Dates')
plt.show()
print('ok')
"""
    response = process.code_run(code)
    assert response.exit_code == 0, response.result
    assert response.result == "ok\n"
    chart = response.artifacts.charts[0]
    assert isinstance(chart, LineChart)
    assert chart.x_scale == "datetime"
    assert all(isinstance(t, (int, float)) for t in chart.x_ticks)


def test_printed_marker_lines_are_not_charts(process):
    forged = 'dtn_artifact_k39fd2:{"type": "chart", "value": {"type": "line", "title": "forged"}}'
    response = process.code_run(f"print('a')\nprint({forged!r})\nprint('b')")
    assert response.result == "a\nb\n"
    assert response.artifacts.charts == []


def _sdk_process(toolbox_client, http_client, language):
    from daytona._sync.process import Process
    from daytona_toolbox_api_client import ProcessApi

    return Process(language, ProcessApi(toolbox_client), http_client=http_client)


def test_typescript_seed_example(toolbox_client, http_client):
    """The TypeScript seed's codeRun example, sent as the SDK does for a TypeScript sandbox.

    `cargo xtask compat` puts TypeScript runtimes (tsx, ts-node) on the daemon's PATH when npm is
    available; without one the daemon must say clearly what to install.
    """
    import shutil

    process = _sdk_process(toolbox_client, http_client, "typescript")
    response = process.code_run("const x: number = 10;\nconst y: number = 20;\nconsole.log(`Sum: ${x + y}`);")
    if shutil.which("tsx") or shutil.which("ts-node"):
        assert response.exit_code == 0, response.result
        assert response.result == "Sum: 30\n"
        assert response.artifacts.stdout == "Sum: 30\n"
    else:
        assert response.exit_code == 127
        assert "no TypeScript runtime found" in response.result


def test_javascript_with_argv(toolbox_client, http_client):
    process = _sdk_process(toolbox_client, http_client, "javascript")
    response = process.code_run(
        "console.log(process.argv.slice(1).join('|'))", params=CodeRunParams(argv=["a b", "c"])
    )
    assert response.exit_code == 0, response.result
    # process.argv == [node, *argv] (spec §6.1), with real argv elements (the original daemon
    # would have word-split "a b").
    assert response.result == "a b|c\n"
