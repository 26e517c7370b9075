//! The chart schema of code-run artifacts (spec §6.4): [`Chart`], [`ChartType`], [`Tick`] and the
//! per-type elements ([`ChartElement`]).
//!
//! Reading is lenient where official peers disagree: `elements: null` or absent reads as empty,
//! bar values may be numbers (the matplotlib wrapper prints numbers), missing numbers read as 0
//! (the official daemon's Go `omitempty` drops zeros), unknown keys are kept in `extra` maps.
//! Writing produces what SDK 0.226.1 accepts: bar values as strings, `elements` always an array.
//!
//! Two things the SDK rejects and this type can still hold, so that nothing read is lost: text
//! ticks ([`Tick::Text`], from date axes) and non-finite numbers (serialised as `null`). A daemon
//! must send numeric, finite ticks and points; check with [`Chart::is_sdk_compatible`].

use std::fmt;

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::serde_util::{is_empty, lenient_string, lenient_string_or_empty, null_as_default};

/// A chart could not be decoded, or its PNG could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChartError {
    /// The JSON does not describe a chart.
    #[error("invalid chart JSON: {0}")]
    Json(String),
    /// The chart carries no `png`.
    #[error("the chart has no png image")]
    NoPng,
    /// The `png` field is not standard base64.
    #[error("the chart's png is not valid base64: {0}")]
    Base64(String),
}

/// The `type` of a chart.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChartType {
    /// `line`: elements are [`PointsElement`]s.
    Line,
    /// `scatter`: elements are [`PointsElement`]s.
    Scatter,
    /// `bar`: elements are [`BarElement`]s.
    Bar,
    /// `pie`: elements are [`PieElement`]s.
    Pie,
    /// `box_and_whisker`: elements are [`BoxElement`]s.
    BoxAndWhisker,
    /// `composite_chart`: elements are sub-[`Chart`]s.
    CompositeChart,
    /// Anything else, verbatim (`unknown` included); elements are kept as raw objects.
    Unknown(String),
}

impl ChartType {
    /// The wire spelling.
    pub fn as_str(&self) -> &str {
        match self {
            ChartType::Line => "line",
            ChartType::Scatter => "scatter",
            ChartType::Bar => "bar",
            ChartType::Pie => "pie",
            ChartType::BoxAndWhisker => "box_and_whisker",
            ChartType::CompositeChart => "composite_chart",
            ChartType::Unknown(s) => s,
        }
    }

    /// Parses the wire spelling; anything else is [`ChartType::Unknown`].
    pub fn parse(s: &str) -> Self {
        match s {
            "line" => ChartType::Line,
            "scatter" => ChartType::Scatter,
            "bar" => ChartType::Bar,
            "pie" => ChartType::Pie,
            "box_and_whisker" => ChartType::BoxAndWhisker,
            "composite_chart" => ChartType::CompositeChart,
            other => ChartType::Unknown(other.to_owned()),
        }
    }
}

impl Default for ChartType {
    /// `unknown`, what the SDK calls a chart of no recognised type.
    fn default() -> Self {
        ChartType::Unknown("unknown".to_owned())
    }
}

impl fmt::Display for ChartType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ChartType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ChartType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Option::<String>::deserialize(d)?
            .map(|s| ChartType::parse(&s))
            .unwrap_or_default())
    }
}

/// An axis tick position: a number, or an ISO-8601 string on date axes (as the matplotlib
/// wrapper emits). SDK 0.226.1 accepts only numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Tick {
    /// A numeric position.
    Number(f64),
    /// A textual position (date axes).
    Text(String),
}

impl From<f64> for Tick {
    fn from(v: f64) -> Self {
        Tick::Number(v)
    }
}

/// An element of a `line` or `scatter` chart: `{label, points: [[x, y], …]}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PointsElement {
    /// Series label (matplotlib's `_childN` for unlabelled lines).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_empty"
    )]
    pub label: String,
    /// `[x, y]` pairs.
    #[serde(default, deserialize_with = "null_as_default")]
    pub points: Vec<[f64; 2]>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl PointsElement {
    /// A series.
    pub fn new(label: impl Into<String>, points: Vec<[f64; 2]>) -> Self {
        PointsElement {
            label: label.into(),
            points,
            extra: Map::new(),
        }
    }
}

/// An element of a `bar` chart: `{label, group, value}`. `value` is written as a string (the
/// SDK rejects numbers) and read from a string or a number.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BarElement {
    /// Bar label (tick label).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_empty"
    )]
    pub label: String,
    /// Container label.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_empty"
    )]
    pub group: String,
    /// Bar height as text, e.g. `"3"` (omitted when empty).
    #[serde(
        default,
        deserialize_with = "lenient_string_or_empty",
        skip_serializing_if = "is_empty"
    )]
    pub value: String,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl BarElement {
    /// A bar.
    pub fn new(
        label: impl Into<String>,
        group: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        BarElement {
            label: label.into(),
            group: group.into(),
            value: value.into(),
            extra: Map::new(),
        }
    }
}

/// An element of a `pie` chart: `{label, angle (degrees), radius, autopct?}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PieElement {
    /// Wedge label.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_empty"
    )]
    pub label: String,
    /// Wedge angle in degrees (absent reads as 0).
    #[serde(default, deserialize_with = "null_as_default")]
    pub angle: f64,
    /// Wedge radius (absent reads as 0).
    #[serde(default, deserialize_with = "null_as_default")]
    pub radius: f64,
    /// The percentage text, when the chart used `autopct`.
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub autopct: Option<String>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl PieElement {
    /// A wedge.
    pub fn new(label: impl Into<String>, angle: f64, radius: f64) -> Self {
        PieElement {
            label: label.into(),
            angle,
            radius,
            autopct: None,
            extra: Map::new(),
        }
    }
}

/// An element of a `box_and_whisker` chart (absent numbers read as 0).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BoxElement {
    /// Box label.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_empty"
    )]
    pub label: String,
    /// Lower whisker.
    #[serde(default, deserialize_with = "null_as_default")]
    pub min: f64,
    /// First quartile.
    #[serde(default, deserialize_with = "null_as_default")]
    pub first_quartile: f64,
    /// Median.
    #[serde(default, deserialize_with = "null_as_default")]
    pub median: f64,
    /// Third quartile.
    #[serde(default, deserialize_with = "null_as_default")]
    pub third_quartile: f64,
    /// Upper whisker.
    #[serde(default, deserialize_with = "null_as_default")]
    pub max: f64,
    /// Outliers (omitted when empty).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub outliers: Vec<f64>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl BoxElement {
    /// A box.
    pub fn new(
        label: impl Into<String>,
        [min, first_quartile, median, third_quartile, max]: [f64; 5],
        outliers: Vec<f64>,
    ) -> Self {
        BoxElement {
            label: label.into(),
            min,
            first_quartile,
            median,
            third_quartile,
            max,
            outliers,
            extra: Map::new(),
        }
    }
}

/// One element of a chart; which variant depends on the parent [`Chart::kind`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum ChartElement {
    /// In `line` and `scatter` charts.
    Points(PointsElement),
    /// In `bar` charts.
    Bar(BarElement),
    /// In `pie` charts.
    Pie(PieElement),
    /// In `box_and_whisker` charts.
    BoxAndWhisker(BoxElement),
    /// In `composite_chart`s: a full sub-chart.
    Chart(Box<Chart>),
    /// In charts of unknown type: the raw object.
    Other(Map<String, Value>),
}

/// A chart captured from matplotlib (spec §6.4).
///
/// ```
/// use process_proto::chart::{Chart, ChartType, ChartElement};
/// let json = r#"{"type":"bar","title":"Bar","elements":[{"label":"a","group":"sales","value":3}]}"#;
/// let chart = Chart::from_json(json).unwrap();
/// assert_eq!(chart.kind, ChartType::Bar);
/// let ChartElement::Bar(bar) = &chart.elements[0] else { unreachable!() };
/// assert_eq!(bar.value, "3");
/// // Written back with the value as a string, as the SDK requires:
/// assert!(chart.to_json().contains(r#""value":"3""#));
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[non_exhaustive]
pub struct Chart {
    /// The chart type (wire key `type`; absent reads as `unknown`).
    #[serde(rename = "type")]
    pub kind: ChartType,
    /// Title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Standard base64 PNG of the figure; see [`Chart::png_bytes`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub png: Option<String>,
    /// X axis label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x_label: Option<String>,
    /// Y axis label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y_label: Option<String>,
    /// X tick positions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x_ticks: Option<Vec<Tick>>,
    /// Y tick positions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y_ticks: Option<Vec<Tick>>,
    /// X tick labels (matplotlib writes U+2212 for minus).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x_tick_labels: Option<Vec<String>>,
    /// Y tick labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y_tick_labels: Option<Vec<String>>,
    /// X scale: `linear`, `log`, `datetime`, `categorical`, …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x_scale: Option<String>,
    /// Y scale.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y_scale: Option<String>,
    /// Elements, typed by `kind` (always written, `[]` when empty).
    pub elements: Vec<ChartElement>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Deserialize)]
struct RawChart {
    #[serde(rename = "type", default)]
    kind: ChartType,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    png: Option<String>,
    #[serde(default)]
    x_label: Option<String>,
    #[serde(default)]
    y_label: Option<String>,
    #[serde(default)]
    x_ticks: Option<Vec<Tick>>,
    #[serde(default)]
    y_ticks: Option<Vec<Tick>>,
    #[serde(default)]
    x_tick_labels: Option<Vec<String>>,
    #[serde(default)]
    y_tick_labels: Option<Vec<String>>,
    #[serde(default)]
    x_scale: Option<String>,
    #[serde(default)]
    y_scale: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    elements: Vec<Value>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

fn element_of(kind: &ChartType, value: Value) -> Result<ChartElement, serde_json::Error> {
    Ok(match kind {
        ChartType::Line | ChartType::Scatter => {
            ChartElement::Points(serde_json::from_value(value)?)
        }
        ChartType::Bar => ChartElement::Bar(serde_json::from_value(value)?),
        ChartType::Pie => ChartElement::Pie(serde_json::from_value(value)?),
        ChartType::BoxAndWhisker => ChartElement::BoxAndWhisker(serde_json::from_value(value)?),
        ChartType::CompositeChart => ChartElement::Chart(Box::new(serde_json::from_value(value)?)),
        ChartType::Unknown(_) => ChartElement::Other(serde_json::from_value(value)?),
    })
}

impl<'de> Deserialize<'de> for Chart {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawChart::deserialize(d)?;
        let elements = raw
            .elements
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                element_of(&raw.kind, v).map_err(|e| {
                    serde::de::Error::custom(format_args!(
                        "element {i} of a {} chart: {e}",
                        raw.kind
                    ))
                })
            })
            .collect::<Result<Vec<_>, D::Error>>()?;
        Ok(Chart {
            kind: raw.kind,
            title: raw.title,
            png: raw.png,
            x_label: raw.x_label,
            y_label: raw.y_label,
            x_ticks: raw.x_ticks,
            y_ticks: raw.y_ticks,
            x_tick_labels: raw.x_tick_labels,
            y_tick_labels: raw.y_tick_labels,
            x_scale: raw.x_scale,
            y_scale: raw.y_scale,
            elements,
            extra: raw.extra,
        })
    }
}

impl Chart {
    /// An empty chart of this type.
    pub fn new(kind: ChartType) -> Self {
        Chart {
            kind,
            ..Chart::default()
        }
    }

    /// Sets the title.
    #[must_use]
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Sets the PNG from raw bytes (standard base64 with padding).
    #[must_use]
    pub fn with_png_bytes(mut self, png: &[u8]) -> Self {
        self.png = Some(base64::engine::general_purpose::STANDARD.encode(png));
        self
    }

    /// Appends an element.
    #[must_use]
    pub fn with_element(mut self, element: ChartElement) -> Self {
        self.elements.push(element);
        self
    }

    /// Reads a chart from JSON text.
    pub fn from_json(json: &str) -> Result<Chart, ChartError> {
        serde_json::from_str(json).map_err(|e| ChartError::Json(e.to_string()))
    }

    /// Reads a chart from a JSON value.
    pub fn from_value(value: Value) -> Result<Chart, ChartError> {
        serde_json::from_value(value).map_err(|e| ChartError::Json(e.to_string()))
    }

    /// Writes the chart as compact JSON, in the form SDK 0.226.1 accepts.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Decodes the base64 `png`.
    pub fn png_bytes(&self) -> Result<Vec<u8>, ChartError> {
        let png = self.png.as_deref().ok_or(ChartError::NoPng)?;
        base64::engine::general_purpose::STANDARD
            .decode(png.trim())
            .map_err(|e| ChartError::Base64(e.to_string()))
    }

    /// Whether SDK 0.226.1 will accept this chart: every tick numeric, every number finite, in
    /// this chart and its sub-charts. (Extra keys are not checked: the SDK keeps them as is.)
    pub fn is_sdk_compatible(&self) -> bool {
        let ticks_ok = |t: &Option<Vec<Tick>>| {
            t.iter()
                .flatten()
                .all(|t| matches!(t, Tick::Number(v) if v.is_finite()))
        };
        ticks_ok(&self.x_ticks)
            && ticks_ok(&self.y_ticks)
            && self.elements.iter().all(|e| match e {
                ChartElement::Points(p) => p.points.iter().flatten().all(|v| v.is_finite()),
                ChartElement::Bar(_) | ChartElement::Other(_) => true,
                ChartElement::Pie(p) => p.angle.is_finite() && p.radius.is_finite(),
                ChartElement::BoxAndWhisker(b) => {
                    [b.min, b.first_quartile, b.median, b.third_quartile, b.max]
                        .iter()
                        .chain(&b.outliers)
                        .all(|v| v.is_finite())
                }
                ChartElement::Chart(c) => c.is_sdk_compatible(),
            })
    }
}
