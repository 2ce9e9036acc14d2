//! Renders real charts through the public API and inspects the output the
//! way a consumer would: parse the SVG as XML, decode the PNG.

use std::io::Cursor;

use keygate_charts::{
    ChartError, ChartKind, Format, MAX_DIMENSION, OTHER_SERIES_NAME, RenderOptions, Series, Theme,
    TimeSeriesChart, render,
};

const HOUR: i64 = 3600;
/// 2025-06-02 00:00 UTC.
const START: i64 = 1_748_822_400;

fn series(name: &str, values: Vec<f64>) -> Series {
    Series {
        name: name.to_owned(),
        values,
    }
}

fn requests_chart(kind: ChartKind) -> TimeSeriesChart {
    let buckets: Vec<i64> = (0..24).map(|h| START + h * HOUR).collect();
    let wave = |scale: f64| -> Vec<f64> {
        (0..24)
            .map(|h| scale * (1.5 + (f64::from(h) / 4.0).sin()))
            .collect()
    };
    TimeSeriesChart {
        title: "Requests per hour by provider".to_owned(),
        y_label: "requests".to_owned(),
        buckets,
        bucket_seconds: HOUR,
        series: vec![
            series("openai", wave(900.0)),
            series("anthropic", wave(500.0)),
            series("google", wave(120.0)),
        ],
        kind,
    }
}

fn svg_opts(theme: Theme) -> RenderOptions {
    RenderOptions {
        theme,
        ..RenderOptions::default()
    }
}

fn png_opts(width: u32, height: u32, theme: Theme) -> RenderOptions {
    RenderOptions {
        width,
        height,
        theme,
        format: Format::Png,
    }
}

/// Every text node of the SVG, trimmed, after checking it parses as XML.
fn svg_texts(bytes: &[u8]) -> Vec<String> {
    let text = std::str::from_utf8(bytes).expect("SVG is UTF-8");
    let doc = roxmltree::Document::parse(text).expect("SVG parses as XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(|t| t.trim().to_owned())
        .collect()
}

fn background_fill(bytes: &[u8]) -> String {
    let text = std::str::from_utf8(bytes).expect("SVG is UTF-8");
    let doc = roxmltree::Document::parse(text).expect("SVG parses as XML");
    let rect = doc
        .descendants()
        .find(|n| n.has_tag_name("rect"))
        .expect("background rect");
    rect.attribute("fill").expect("fill").to_ascii_uppercase()
}

fn png_size(bytes: &[u8]) -> (u32, u32) {
    let reader = png::Decoder::new(Cursor::new(bytes))
        .read_info()
        .expect("PNG decodes");
    let info = reader.info();
    (info.width, info.height)
}

#[test]
fn svg_has_title_every_series_name_and_the_unit() {
    for kind in [
        ChartKind::StackedArea,
        ChartKind::StackedBars,
        ChartKind::Lines,
    ] {
        let chart = requests_chart(kind);
        let texts = svg_texts(&render(&chart, &svg_opts(Theme::Light)).expect("renders"));
        for wanted in [
            "Requests per hour by provider",
            "openai",
            "anthropic",
            "google",
            "requests",
        ] {
            assert!(
                texts.iter().any(|t| t == wanted),
                "{kind:?}: no {wanted:?} in {texts:?}"
            );
        }
        assert!(
            texts.iter().any(|t| t == "00:00"),
            "hourly x labels: {texts:?}"
        );
    }
}

#[test]
fn dark_svg_has_the_dark_background_and_light_svg_a_white_one() {
    let chart = requests_chart(ChartKind::StackedArea);
    let dark = render(&chart, &svg_opts(Theme::Dark)).expect("renders");
    assert_eq!(background_fill(&dark), "#161821");
    let light = render(&chart, &svg_opts(Theme::Light)).expect("renders");
    assert_eq!(background_fill(&light), "#FFFFFF");
}

#[test]
fn png_decodes_with_the_requested_size() {
    let chart = requests_chart(ChartKind::StackedBars);
    for (w, h, theme) in [
        (900, 360, Theme::Light),
        (1800, 720, Theme::Dark),
        (333, 200, Theme::Light),
    ] {
        let bytes = render(&chart, &png_opts(w, h, theme)).expect("renders");
        assert_eq!(png_size(&bytes), (w, h));
    }
}

#[test]
fn series_length_mismatch_is_an_error() {
    let mut chart = requests_chart(ChartKind::Lines);
    chart.series[1].values.pop();
    let err = render(&chart, &svg_opts(Theme::Light)).expect_err("must fail");
    assert_eq!(
        err,
        ChartError::SeriesLengthMismatch {
            series: "anthropic".to_owned(),
            expected: 24,
            actual: 23,
        }
    );
}

#[test]
fn oversized_and_undersized_canvases_are_errors() {
    let chart = requests_chart(ChartKind::Lines);
    for (w, h) in [
        (MAX_DIMENSION + 1, 360),
        (900, MAX_DIMENSION + 1),
        (0, 0),
        (900, 10),
    ] {
        let err = render(&chart, &png_opts(w, h, Theme::Light)).expect_err("must fail");
        assert!(matches!(err, ChartError::SizeOutOfRange { .. }), "{err}");
    }
    assert!(render(&chart, &svg_opts(Theme::Light)).is_ok());
}

#[test]
fn unordered_buckets_and_zero_width_buckets_are_errors() {
    let mut chart = requests_chart(ChartKind::Lines);
    chart.buckets.swap(3, 4);
    assert_eq!(
        render(&chart, &svg_opts(Theme::Light)),
        Err(ChartError::BucketsNotAscending)
    );
    let mut chart = requests_chart(ChartKind::Lines);
    chart.bucket_seconds = 0;
    assert_eq!(
        render(&chart, &svg_opts(Theme::Light)),
        Err(ChartError::InvalidBucketSeconds(0))
    );
}

#[test]
fn empty_period_says_no_data_instead_of_failing() {
    let no_buckets = TimeSeriesChart {
        buckets: Vec::new(),
        series: Vec::new(),
        ..requests_chart(ChartKind::StackedArea)
    };
    let mut all_zero = requests_chart(ChartKind::Lines);
    for s in &mut all_zero.series {
        s.values.iter_mut().for_each(|v| *v = 0.0);
    }
    for chart in [&no_buckets, &all_zero] {
        let texts = svg_texts(&render(chart, &svg_opts(Theme::Dark)).expect("renders"));
        assert!(
            texts.iter().any(|t| t == "No data for this period"),
            "{texts:?}"
        );
        assert!(texts.iter().any(|t| t == "Requests per hour by provider"));
        let png = render(chart, &png_opts(640, 240, Theme::Light)).expect("renders");
        assert_eq!(png_size(&png), (640, 240));
    }
}

#[test]
fn twelve_keys_show_seven_and_other_in_the_legend() {
    let mut chart = requests_chart(ChartKind::StackedBars);
    chart.series = (0..12)
        .map(|k| series(&format!("key-{k:02}"), vec![f64::from(k + 1); 24]))
        .collect();
    let texts = svg_texts(&render(&chart, &svg_opts(Theme::Light)).expect("renders"));
    for k in 5..12 {
        let name = format!("key-{k:02}");
        assert!(texts.contains(&name), "{name} missing from {texts:?}");
    }
    assert!(texts.iter().any(|t| t == OTHER_SERIES_NAME));
    assert!(!texts.iter().any(|t| t == "key-00"), "folded key in legend");
}

#[test]
fn names_with_markup_characters_stay_valid_xml() {
    let mut chart = requests_chart(ChartKind::StackedArea);
    chart.title = "Tokens <by> \"key\" & model".to_owned();
    chart.series[0].name = "prod & <staging>".to_owned();
    let texts = svg_texts(&render(&chart, &svg_opts(Theme::Light)).expect("renders"));
    assert!(texts.iter().any(|t| t == "prod & <staging>"), "{texts:?}");
    assert!(texts.iter().any(|t| t == "Tokens <by> \"key\" & model"));
}

#[test]
fn tick_labels_follow_the_unit() {
    let mut cost = requests_chart(ChartKind::StackedBars);
    cost.y_label = "USD".to_owned();
    for s in &mut cost.series {
        s.values.iter_mut().for_each(|v| *v /= 10_000.0);
    }
    let texts = svg_texts(&render(&cost, &svg_opts(Theme::Light)).expect("renders"));
    assert!(texts.iter().any(|t| t == "$0.10"), "{texts:?}");

    let mut rate = requests_chart(ChartKind::Lines);
    rate.y_label = "%".to_owned();
    rate.series = vec![series("success", vec![99.5; 24])];
    let texts = svg_texts(&render(&rate, &svg_opts(Theme::Light)).expect("renders"));
    assert!(texts.iter().any(|t| t == "100%"), "{texts:?}");
    assert!(!texts.iter().any(|t| t == "125%"), "{texts:?}");

    let texts = svg_texts(
        &render(
            &requests_chart(ChartKind::StackedArea),
            &svg_opts(Theme::Light),
        )
        .expect("renders"),
    );
    assert!(texts.iter().any(|t| t == "2k"), "{texts:?}");
}

#[test]
fn gaps_and_single_buckets_render() {
    let mut chart = requests_chart(ChartKind::Lines);
    chart.series[0].values[5] = f64::NAN;
    chart.series[1].values[7] = f64::INFINITY;
    assert!(render(&chart, &png_opts(900, 360, Theme::Dark)).is_ok());

    for kind in [
        ChartKind::StackedArea,
        ChartKind::StackedBars,
        ChartKind::Lines,
    ] {
        let single = TimeSeriesChart {
            buckets: vec![START],
            series: vec![series("openai", vec![42.0])],
            ..requests_chart(kind)
        };
        let texts = svg_texts(&render(&single, &svg_opts(Theme::Light)).expect("renders"));
        assert!(texts.iter().any(|t| t == "openai"));
    }
}

#[test]
fn daily_buckets_are_labelled_by_date() {
    let chart = TimeSeriesChart {
        buckets: (0..30).map(|d| START + d * 86_400).collect(),
        bucket_seconds: 86_400,
        series: vec![series("openai", (0..30).map(f64::from).collect())],
        ..requests_chart(ChartKind::StackedBars)
    };
    let texts = svg_texts(&render(&chart, &svg_opts(Theme::Light)).expect("renders"));
    assert!(texts.iter().any(|t| t == "06-02"), "{texts:?}");
}

#[test]
fn same_input_gives_the_same_bytes() {
    let chart = requests_chart(ChartKind::StackedArea);
    let opts = png_opts(600, 300, Theme::Dark);
    assert_eq!(render(&chart, &opts), render(&chart, &opts));
}
