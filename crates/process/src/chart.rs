//! Typed charts from `code_run`: [`TypedChart`] is an enum with one variant per chart type, each
//! carrying its fields and the decoded PNG. Built from the wire's untyped chart object,
//! `process_proto::chart::Chart` (hence the different name: the SDKs' `Chart` base class is
//! this enum, the proto's `Chart` is the JSON object as it travels).

use process_proto::chart::{self as proto, ChartElement, Tick};

pub use process_proto::chart::{BarElement, BoxElement, ChartType, PieElement, PointsElement};

/// A chart captured from matplotlib's `plt.show()` during `code_run`.
///
/// ```
/// # fn show(chart: &process::TypedChart) {
/// use process::TypedChart;
/// match chart {
///     TypedChart::Line(line) => {
///         println!("{:?}: x {:?}, y {:?}", line.title, line.axes.x_label, line.axes.y_label);
///         for series in &line.elements {
///             println!("{}: {} points", series.label, series.points.len());
///         }
///     }
///     TypedChart::Bar(bar) => println!("{} bars", bar.elements.len()),
///     other => println!("a {} chart", other.kind()),
/// }
/// if let Some(png) = chart.png() {
///     std::fs::write("chart.png", png).unwrap();
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TypedChart {
    /// `line`.
    Line(PointChart),
    /// `scatter`.
    Scatter(PointChart),
    /// `bar`.
    Bar(BarChart),
    /// `pie`.
    Pie(PieChart),
    /// `box_and_whisker`.
    BoxAndWhisker(BoxAndWhiskerChart),
    /// `composite_chart`: several axes in one figure.
    Composite(CompositeChart),
    /// A type this client does not know (or `unknown`), as received.
    Unknown(proto::Chart),
}

/// The axes of a two-dimensional chart.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct Axes {
    /// X axis label.
    pub x_label: Option<String>,
    /// Y axis label.
    pub y_label: Option<String>,
    /// X tick positions (numbers; text on date axes).
    pub x_ticks: Vec<Tick>,
    /// Y tick positions.
    pub y_ticks: Vec<Tick>,
    /// X tick labels (matplotlib writes U+2212 for minus).
    pub x_tick_labels: Vec<String>,
    /// Y tick labels.
    pub y_tick_labels: Vec<String>,
    /// X scale: `linear`, `log`, `datetime`, `categorical`, …
    pub x_scale: Option<String>,
    /// Y scale.
    pub y_scale: Option<String>,
}

/// A line or scatter chart: series of points.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct PointChart {
    /// Title.
    pub title: Option<String>,
    /// The figure as PNG.
    pub png: Option<Vec<u8>>,
    /// Axes.
    pub axes: Axes,
    /// One element per line or point collection: `label` and `points` (`[x, y]`).
    pub elements: Vec<PointsElement>,
}

/// A bar chart.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct BarChart {
    /// Title.
    pub title: Option<String>,
    /// The figure as PNG.
    pub png: Option<Vec<u8>>,
    /// Axes.
    pub axes: Axes,
    /// One element per bar: `label`, `group`, `value` (text, e.g. `"3"`).
    pub elements: Vec<BarElement>,
}

/// A pie chart.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct PieChart {
    /// Title.
    pub title: Option<String>,
    /// The figure as PNG.
    pub png: Option<Vec<u8>>,
    /// One element per wedge: `label`, `angle` (degrees), `radius`, `autopct`.
    pub elements: Vec<PieElement>,
}

/// A box-and-whisker chart.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct BoxAndWhiskerChart {
    /// Title.
    pub title: Option<String>,
    /// The figure as PNG.
    pub png: Option<Vec<u8>>,
    /// Axes.
    pub axes: Axes,
    /// One element per box: `label`, `min`, quartiles, `median`, `max`, `outliers`.
    pub elements: Vec<BoxElement>,
}

/// A figure with several axes; each is a chart of its own (the PNG is the whole figure's).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct CompositeChart {
    /// Title (the figure's suptitle).
    pub title: Option<String>,
    /// The figure as PNG.
    pub png: Option<Vec<u8>>,
    /// The sub-charts, one per axes.
    pub elements: Vec<TypedChart>,
}

impl TypedChart {
    /// The chart's type.
    pub fn kind(&self) -> ChartType {
        match self {
            TypedChart::Line(_) => ChartType::Line,
            TypedChart::Scatter(_) => ChartType::Scatter,
            TypedChart::Bar(_) => ChartType::Bar,
            TypedChart::Pie(_) => ChartType::Pie,
            TypedChart::BoxAndWhisker(_) => ChartType::BoxAndWhisker,
            TypedChart::Composite(_) => ChartType::CompositeChart,
            TypedChart::Unknown(c) => c.kind.clone(),
        }
    }

    /// The title.
    pub fn title(&self) -> Option<&str> {
        match self {
            TypedChart::Line(c) | TypedChart::Scatter(c) => c.title.as_deref(),
            TypedChart::Bar(c) => c.title.as_deref(),
            TypedChart::Pie(c) => c.title.as_deref(),
            TypedChart::BoxAndWhisker(c) => c.title.as_deref(),
            TypedChart::Composite(c) => c.title.as_deref(),
            TypedChart::Unknown(c) => c.title.as_deref(),
        }
    }

    /// The figure as PNG bytes (absent for sub-charts of a composite, and when the daemon sent
    /// none or an undecodable one).
    pub fn png(&self) -> Option<&[u8]> {
        match self {
            TypedChart::Line(c) | TypedChart::Scatter(c) => c.png.as_deref(),
            TypedChart::Bar(c) => c.png.as_deref(),
            TypedChart::Pie(c) => c.png.as_deref(),
            TypedChart::BoxAndWhisker(c) => c.png.as_deref(),
            TypedChart::Composite(c) => c.png.as_deref(),
            TypedChart::Unknown(_) => None,
        }
    }

    /// The axes, for two-dimensional charts.
    pub fn axes(&self) -> Option<&Axes> {
        match self {
            TypedChart::Line(c) | TypedChart::Scatter(c) => Some(&c.axes),
            TypedChart::Bar(c) => Some(&c.axes),
            TypedChart::BoxAndWhisker(c) => Some(&c.axes),
            TypedChart::Pie(_) | TypedChart::Composite(_) | TypedChart::Unknown(_) => None,
        }
    }
}

fn png_of(chart: &proto::Chart) -> Option<Vec<u8>> {
    chart.png.as_ref()?;
    match chart.png_bytes() {
        Ok(bytes) => Some(bytes),
        Err(err) => {
            tracing::warn!(error = %err, "dropping a chart's undecodable png");
            None
        }
    }
}

fn axes_of(chart: &proto::Chart) -> Axes {
    Axes {
        x_label: chart.x_label.clone(),
        y_label: chart.y_label.clone(),
        x_ticks: chart.x_ticks.clone().unwrap_or_default(),
        y_ticks: chart.y_ticks.clone().unwrap_or_default(),
        x_tick_labels: chart.x_tick_labels.clone().unwrap_or_default(),
        y_tick_labels: chart.y_tick_labels.clone().unwrap_or_default(),
        x_scale: chart.x_scale.clone(),
        y_scale: chart.y_scale.clone(),
    }
}

impl From<proto::Chart> for TypedChart {
    fn from(chart: proto::Chart) -> TypedChart {
        let title = chart.title.clone();
        let png = png_of(&chart);
        let axes = axes_of(&chart);
        match chart.kind {
            ChartType::Line | ChartType::Scatter => {
                let elements = chart
                    .elements
                    .iter()
                    .filter_map(|e| match e {
                        ChartElement::Points(p) => Some(p.clone()),
                        _ => None,
                    })
                    .collect();
                let c = PointChart {
                    title,
                    png,
                    axes,
                    elements,
                };
                if chart.kind == ChartType::Line {
                    TypedChart::Line(c)
                } else {
                    TypedChart::Scatter(c)
                }
            }
            ChartType::Bar => TypedChart::Bar(BarChart {
                title,
                png,
                axes,
                elements: chart
                    .elements
                    .iter()
                    .filter_map(|e| match e {
                        ChartElement::Bar(b) => Some(b.clone()),
                        _ => None,
                    })
                    .collect(),
            }),
            ChartType::Pie => TypedChart::Pie(PieChart {
                title,
                png,
                elements: chart
                    .elements
                    .iter()
                    .filter_map(|e| match e {
                        ChartElement::Pie(p) => Some(p.clone()),
                        _ => None,
                    })
                    .collect(),
            }),
            ChartType::BoxAndWhisker => TypedChart::BoxAndWhisker(BoxAndWhiskerChart {
                title,
                png,
                axes,
                elements: chart
                    .elements
                    .iter()
                    .filter_map(|e| match e {
                        ChartElement::BoxAndWhisker(b) => Some(b.clone()),
                        _ => None,
                    })
                    .collect(),
            }),
            ChartType::CompositeChart => TypedChart::Composite(CompositeChart {
                title,
                png,
                elements: chart
                    .elements
                    .into_iter()
                    .filter_map(|e| match e {
                        ChartElement::Chart(c) => Some(TypedChart::from(*c)),
                        _ => None,
                    })
                    .collect(),
            }),
            _ => TypedChart::Unknown(chart),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples_become_typed_charts() {
        let line = r#"{"type":"line","title":"Line Chart","png":"iVBORw0KGgo=","x_label":"X","y_label":"Y","x_ticks":[-2,0,2],"y_ticks":[-1,1],"x_tick_labels":["\u22122","0","2"],"y_tick_labels":["-1","1"],"x_scale":"linear","y_scale":"linear","elements":[{"label":"sin","points":[[0,0],[2.5,0.5]]}]}"#;
        let chart = TypedChart::from(proto::Chart::from_json(line).unwrap());
        let TypedChart::Line(c) = &chart else {
            panic!("{chart:?}")
        };
        assert_eq!(c.title.as_deref(), Some("Line Chart"));
        assert_eq!(c.axes.x_label.as_deref(), Some("X"));
        assert_eq!(c.axes.x_tick_labels[0], "\u{2212}2");
        assert_eq!(c.elements[0].label, "sin");
        let [px, py] = c.elements[0].points[1];
        assert!((px - 2.5).abs() < 1e-12 && (py - 0.5).abs() < 1e-12);
        assert_eq!(chart.png().unwrap(), b"\x89PNG\r\n\x1a\n");

        let bar = r#"{"type":"bar","title":"Bar","elements":[{"label":"a","group":"sales","value":"3"}]}"#;
        let TypedChart::Bar(b) = TypedChart::from(proto::Chart::from_json(bar).unwrap()) else {
            panic!()
        };
        assert_eq!(b.elements[0].value, "3");

        let pie =
            r#"{"type":"pie","title":"Pie","elements":[{"label":"x","angle":108,"radius":1}]}"#;
        let TypedChart::Pie(p) = TypedChart::from(proto::Chart::from_json(pie).unwrap()) else {
            panic!()
        };
        assert!((p.elements[0].angle - 108.0).abs() < f64::EPSILON);

        let boxes = r#"{"type":"box_and_whisker","elements":[{"label":"g1","min":-2.5,"first_quartile":-0.4,"median":0.1,"third_quartile":0.9,"max":2.2,"outliers":[6]}]}"#;
        let TypedChart::BoxAndWhisker(bw) =
            TypedChart::from(proto::Chart::from_json(boxes).unwrap())
        else {
            panic!()
        };
        assert_eq!(bw.elements[0].outliers, vec![6.0]);

        let composite = r#"{"type":"composite_chart","title":"Composite","elements":[{"type":"line","title":"left","elements":[{"label":"sq","points":[[1,1]]}]},{"type":"bar","title":"right"}]}"#;
        let chart = TypedChart::from(proto::Chart::from_json(composite).unwrap());
        let TypedChart::Composite(c) = &chart else {
            panic!()
        };
        assert_eq!(c.elements.len(), 2);
        assert_eq!(c.elements[0].title(), Some("left"));
        assert_eq!(c.elements[1].kind(), ChartType::Bar);

        let odd = TypedChart::from(proto::Chart::from_json(r#"{"type":"heatmap"}"#).unwrap());
        assert_eq!(odd.kind(), ChartType::Unknown("heatmap".into()));
    }
}
