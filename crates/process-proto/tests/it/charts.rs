//! Spec §6.5: every chart example parses, and re-serialises into a form SDK 0.226.1 accepts
//! (bar values as strings, numeric ticks, `elements` an array).

use process_proto::artifact::{strip_artifacts, Artifact};
use process_proto::chart::*;
use serde_json::{json, Value};

pub const LINE: &str = r#"{"type":"line","title":"Line Chart","png":"iVBORw0KGgoAAAANSUhEUg...","x_label":"X","y_label":"Y","x_ticks":[-2,0,2,4,6,8,10,12],"y_ticks":[-1.5,-1,-0.5,0,0.5,1,1.5],"x_tick_labels":["\u22122","0","2","4","6","8","10","12"],"y_tick_labels":["\u22121.5","\u22121.0","\u22120.5","0.0","0.5","1.0","1.5"],"x_scale":"linear","y_scale":"linear","elements":[{"label":"sin","points":[[0,0],[2.5,0.5984721441039565],[5,-0.9589242746631385],[7.5,0.9379999767747389],[10,-0.5440211108893698]]},{"label":"cos","points":[[0,1],[2.5,-0.8011436155469337],[5,0.28366218546322625],[7.5,0.3466353178350258],[10,-0.8390715290764524]]}]}"#;
pub const SCATTER: &str = r#"{"type":"scatter","title":"Scatter","png":"iVBORw0KGgo...","x_label":"x","y_label":"y","x_ticks":[0.5,1,1.5,2,2.5,3,3.5],"y_ticks":[2,3,4,5,6,7,8],"x_tick_labels":["0.5","1.0","1.5","2.0","2.5","3.0","3.5"],"y_tick_labels":["2","3","4","5","6","7","8"],"x_scale":"linear","y_scale":"linear","elements":[{"label":"A","points":[[1,4],[2,5],[3,6]]},{"label":"B","points":[[1.5,3],[2.5,7]]}]}"#;
pub const BAR_WRAPPER_LINE: &str = r#"dtn_artifact_k39fd2:{"type": "chart", "value": {"title": "Bar", "x_label": "cat", "y_label": "val", "x_ticks": [0.0, 1.0, 2.0], "x_tick_labels": ["a", "b", "c"], "x_scale": "categorical", "y_ticks": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], "y_tick_labels": ["0", "1", "2", "3", "4", "5", "6", "7", "8"], "y_scale": "linear", "type": "bar", "elements": [{"label": "a", "group": "sales", "value": 3}, {"label": "b", "group": "sales", "value": 7}, {"label": "c", "group": "sales", "value": 5}], "png": "iVBOR..."}}"#;
pub const BAR: &str = r#"{"type":"bar","title":"Bar","png":"iVBORw0KGgo...","x_label":"cat","y_label":"val","x_ticks":[0,1,2],"y_ticks":[0,1,2,3,4,5,6,7,8],"x_tick_labels":["a","b","c"],"y_tick_labels":["0","1","2","3","4","5","6","7","8"],"x_scale":"categorical","y_scale":"linear","elements":[{"label":"a","value":"3","group":"sales"},{"label":"b","value":"7","group":"sales"},{"label":"c","value":"5","group":"sales"}]}"#;
pub const PIE: &str = r#"{"type":"pie","title":"Pie","png":"iVBORw0KGgo...","x_scale":"categorical","y_scale":"categorical","elements":[{"label":"x","angle":108,"radius":1},{"label":"y","angle":180,"radius":1},{"label":"z","angle":72,"radius":1}]}"#;
pub const BOX: &str = r#"{"type":"box_and_whisker","title":"Box","png":"iVBORw0KGgo...","x_label":"grp","y_label":"v","x_ticks":[1,2],"y_ticks":[-4,-2,0,2,4,6,8],"x_tick_labels":["g1","g2"],"y_tick_labels":["\u22124","\u22122","0","2","4","6","8"],"x_scale":"linear","y_scale":"linear","elements":[{"label":"g1","min":-2.5529898158340787,"first_quartile":-0.4738632416814199,"median":0.1549474256969163,"third_quartile":0.9644132008156643,"max":2.2697546239876076,"outliers":[6]},{"label":"g2","min":0.27371739766832315,"first_quartile":1.337074140747796,"median":2.054055369012942,"third_quartile":2.454169659276935,"max":3.8958891760305834}]}"#;
pub const COMPOSITE_DAEMON: &str = r#"{"type":"composite_chart","title":"Composite","png":"iVBORw0KGgo...","elements":[{"type":"line","title":"left"},{"type":"bar","title":"right"}]}"#;
pub const COMPOSITE_WRAPPER: &str = r#"{"title":"Composite","type":"composite_chart","png":"iVBOR...","elements":[{"title":"left","x_label":"","y_label":"","x_ticks":[0.5,1.0,1.5,2.0,2.5,3.0,3.5],"x_tick_labels":["0.5","1.0","1.5","2.0","2.5","3.0","3.5"],"x_scale":"linear","y_ticks":[0.0,2.0,4.0,6.0,8.0,10.0],"y_tick_labels":["0","2","4","6","8","10"],"y_scale":"linear","type":"line","elements":[{"label":"sq","points":[[1,1],[2,4],[3,9]]}]},{"title":"right","x_label":"","y_label":"","x_ticks":[0.0,1.0],"x_tick_labels":["p","q"],"x_scale":"categorical","y_ticks":[0.0,0.5,1.0,1.5,2.0,2.5,3.0,3.5],"y_tick_labels":["0.0","0.5","1.0","1.5","2.0","2.5","3.0","3.5"],"y_scale":"linear","type":"bar","elements":[{"label":"p","group":"_container0","value":2},{"label":"q","group":"_container0","value":3}]}]}"#;

/// Every example as a chart JSON object (the wrapper bar line's value extracted).
pub fn all_examples() -> Vec<String> {
    let bar_value: Value = serde_json::from_str::<Value>(
        BAR_WRAPPER_LINE
            .strip_prefix("dtn_artifact_k39fd2:")
            .unwrap(),
    )
    .unwrap()["value"]
        .clone();
    vec![
        LINE.into(),
        SCATTER.into(),
        bar_value.to_string(),
        BAR.into(),
        PIE.into(),
        BOX.into(),
        COMPOSITE_DAEMON.into(),
        COMPOSITE_WRAPPER.into(),
    ]
}

/// Checks what SDK 0.226.1's strict pydantic models demand, recursively for sub-charts.
fn assert_sdk_shape(v: &Value) {
    let obj = v.as_object().expect("chart object");
    assert!(
        obj["elements"].is_array(),
        "elements written as an array: {v}"
    );
    for k in ["x_ticks", "y_ticks"] {
        if let Some(t) = obj.get(k) {
            assert!(
                t.as_array().unwrap().iter().all(Value::is_number),
                "{k} numeric: {v}"
            );
        }
    }
    for k in [
        "type", "title", "png", "x_label", "y_label", "x_scale", "y_scale",
    ] {
        if let Some(t) = obj.get(k) {
            assert!(t.is_string(), "{k} string: {v}");
        }
    }
    for e in obj["elements"].as_array().unwrap() {
        if let Some(val) = e.get("value") {
            assert!(val.is_string(), "bar value must be a string: {e}");
        }
        if let Some(points) = e.get("points") {
            assert!(points.as_array().unwrap().iter().all(|p| p
                .as_array()
                .unwrap()
                .iter()
                .all(Value::is_number)));
        }
        if e.get("type").is_some() {
            assert_sdk_shape(e);
        }
    }
}

#[test]
fn every_example_parses_and_reserialises_for_the_sdk() {
    for json in all_examples() {
        let chart = Chart::from_json(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
        assert!(chart.is_sdk_compatible());
        let out: Value = serde_json::from_str(&chart.to_json()).unwrap();
        assert_sdk_shape(&out);
        // Stable: parse(write(parse(x))) == parse(x).
        assert_eq!(Chart::from_json(&chart.to_json()).unwrap(), chart);
    }
}

#[test]
fn typed_elements() {
    let line = Chart::from_json(LINE).unwrap();
    assert_eq!(line.kind, ChartType::Line);
    assert_eq!(line.x_ticks.as_ref().unwrap()[0], Tick::Number(-2.0));
    assert_eq!(line.x_tick_labels.as_ref().unwrap()[0], "\u{2212}2");
    let ChartElement::Points(sin) = &line.elements[0] else {
        panic!()
    };
    assert_eq!(
        (sin.label.as_str(), sin.points[1]),
        ("sin", [2.5, 0.598_472_144_103_956_5])
    );

    let bar = Chart::from_json(&all_examples()[2]).unwrap();
    let values: Vec<&str> = bar
        .elements
        .iter()
        .map(|e| match e {
            ChartElement::Bar(b) => b.value.as_str(),
            _ => panic!(),
        })
        .collect();
    assert_eq!(values, ["3", "7", "5"]);
    // Wrapper form and daemon form describe the same chart (ticks 0.0 vs 0 are equal numbers).
    let daemon_bar = Chart::from_json(BAR).unwrap();
    let (mut bar, mut daemon_bar) = (bar, daemon_bar);
    bar.png = None;
    daemon_bar.png = None;
    assert_eq!(bar, daemon_bar);

    let pie = Chart::from_json(PIE).unwrap();
    let ChartElement::Pie(z) = &pie.elements[2] else {
        panic!()
    };
    assert_eq!(
        (z.label.as_str(), z.angle, z.radius, z.autopct.as_deref()),
        ("z", 72.0, 1.0, None)
    );

    let bx = Chart::from_json(BOX).unwrap();
    let ChartElement::BoxAndWhisker(g1) = &bx.elements[0] else {
        panic!()
    };
    assert_eq!(g1.outliers, [6.0]);
    let ChartElement::BoxAndWhisker(g2) = &bx.elements[1] else {
        panic!()
    };
    assert!(g2.outliers.is_empty());
    assert!(!serde_json::to_string(g2).unwrap().contains("outliers"));

    let comp = Chart::from_json(COMPOSITE_WRAPPER).unwrap();
    let ChartElement::Chart(right) = &comp.elements[1] else {
        panic!()
    };
    assert_eq!(right.kind, ChartType::Bar);
    let ChartElement::Bar(p) = &right.elements[0] else {
        panic!()
    };
    assert_eq!((p.group.as_str(), p.value.as_str()), ("_container0", "2"));
    let comp = Chart::from_json(COMPOSITE_DAEMON).unwrap();
    let ChartElement::Chart(left) = &comp.elements[0] else {
        panic!()
    };
    assert_eq!(
        (
            left.kind.clone(),
            left.title.as_deref(),
            left.elements.len()
        ),
        (ChartType::Line, Some("left"), 0)
    );
}

#[test]
fn lenient_reading() {
    // elements null/absent → [], written back as [].
    for json in [r#"{"type":"line","elements":null}"#, r#"{"type":"line"}"#] {
        let c = Chart::from_json(json).unwrap();
        assert!(c.elements.is_empty());
        assert_eq!(
            serde_json::from_str::<Value>(&c.to_json()).unwrap()["elements"],
            json!([])
        );
    }
    // type absent → unknown; unknown types keep raw elements; unknown keys kept everywhere.
    let c = Chart::from_json(r#"{"elements":[{"a":1}],"extra_key":[1,2]}"#).unwrap();
    assert_eq!(c.kind, ChartType::Unknown("unknown".into()));
    assert_eq!(c.extra["extra_key"], json!([1, 2]));
    let ChartElement::Other(raw) = &c.elements[0] else {
        panic!()
    };
    assert_eq!(raw["a"], 1);
    let c = Chart::from_json(r#"{"type":"heatmap","elements":[{"cells":[[1]]}]}"#).unwrap();
    assert_eq!(c.kind, ChartType::Unknown("heatmap".into()));
    assert!(c.to_json().contains(r#""cells":[[1]]"#));
    let c = Chart::from_json(r#"{"type":"pie","elements":[{"label":"a","angle":90,"radius":1,"autopct":"25.0%","wedge_color":"red"}]}"#).unwrap();
    let ChartElement::Pie(w) = &c.elements[0] else {
        panic!()
    };
    assert_eq!(
        (w.autopct.as_deref(), &w.extra["wedge_color"]),
        (Some("25.0%"), &json!("red"))
    );
    assert!(c.to_json().contains(r#""wedge_color":"red""#));
    // Missing numbers (Go omitempty dropped a 0) read as 0.
    let c = Chart::from_json(r#"{"type":"box_and_whisker","elements":[{"label":"z","max":1}]}"#)
        .unwrap();
    let ChartElement::BoxAndWhisker(b) = &c.elements[0] else {
        panic!()
    };
    assert_eq!((b.min, b.median, b.max), (0.0, 0.0, 1.0));
    // Bar values: number, string, float, null.
    let c = Chart::from_json(
        r#"{"type":"bar","elements":[{"value":3},{"value":"x"},{"value":2.5},{"value":null},{}]}"#,
    )
    .unwrap();
    let vals: Vec<String> = c
        .elements
        .iter()
        .map(|e| match e {
            ChartElement::Bar(b) => b.value.clone(),
            _ => panic!(),
        })
        .collect();
    assert_eq!(vals, ["3", "x", "2.5", "", ""]);
    // Date axes: text ticks are kept, and flagged as not SDK-compatible.
    let c = Chart::from_json(r#"{"type":"line","x_ticks":["2024-01-01T00:00:00",1.5]}"#).unwrap();
    assert_eq!(
        c.x_ticks.as_ref().unwrap()[0],
        Tick::Text("2024-01-01T00:00:00".into())
    );
    assert!(!c.is_sdk_compatible());
    // Mismatched element shapes are errors, naming the element.
    let e = Chart::from_json(r#"{"type":"line","elements":[{"points":[["a","b"]]}]}"#).unwrap_err();
    assert!(e.to_string().contains("element 0 of a line chart"), "{e}");
}

#[test]
fn non_finite_numbers_are_flagged() {
    let c = Chart::new(ChartType::Line).with_element(ChartElement::Points(PointsElement::new(
        "s",
        vec![[0.0, f64::NAN]],
    )));
    assert!(!c.is_sdk_compatible());
    let sub = Chart::new(ChartType::Pie).with_element(ChartElement::Pie(PieElement::new(
        "w",
        f64::INFINITY,
        1.0,
    )));
    let c = Chart::new(ChartType::CompositeChart).with_element(ChartElement::Chart(Box::new(sub)));
    assert!(!c.is_sdk_compatible());
}

#[test]
fn png_bytes() {
    let png = [0x89, b'P', b'N', b'G', 0, 255];
    let c = Chart::new(ChartType::Line).with_png_bytes(&png);
    assert_eq!(c.png_bytes().unwrap(), png);
    assert_eq!(
        Chart::new(ChartType::Line).png_bytes(),
        Err(ChartError::NoPng)
    );
    let mut bad = c.clone();
    bad.png = Some("***".into());
    assert!(matches!(bad.png_bytes(), Err(ChartError::Base64(_))));
}

#[test]
fn wrapper_output_is_stripped() {
    let output = format!("before\n{BAR_WRAPPER_LINE}\nafter\n");
    let (text, charts) = strip_artifacts(&output);
    assert_eq!(text, "before\nafter\n");
    assert_eq!(charts.len(), 1);
    assert_eq!(charts[0].kind, ChartType::Bar);
    let line = Artifact::chart_line(&charts[0]);
    assert!(line.ends_with('\n'));
    let (text, again) = strip_artifacts(&line);
    assert_eq!((text.as_str(), again), ("", charts));
}
