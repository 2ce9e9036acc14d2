//! Writes sample charts to /tmp/keygate-charts/ for a person to look at:
//!
//! ```sh
//! cargo run -p keygate-charts --example render_samples
//! ```
//!
//! The data is made up but shaped like real traffic: a daily cycle, three
//! providers of different sizes, latency percentiles that spread apart
//! under load.

use std::error::Error;
use std::f64::consts::PI;
use std::path::Path;

use keygate_charts::{ChartKind, Format, RenderOptions, Series, Theme, TimeSeriesChart, render};

/// 2025-06-02 00:00 UTC, a Monday.
const DAY_START: i64 = 1_748_822_400;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

fn main() -> Result<(), Box<dyn Error>> {
    let out = Path::new("/tmp/keygate-charts");
    std::fs::create_dir_all(out)?;

    let hourly: Vec<i64> = (0..24).map(|h| DAY_START + 7 * HOUR + h * HOUR).collect();
    let requests = TimeSeriesChart {
        title: "Requests per hour by provider".to_owned(),
        y_label: "requests".to_owned(),
        buckets: hourly.clone(),
        bucket_seconds: HOUR,
        series: vec![
            provider("openai", &hourly, 1450.0, 1),
            provider("anthropic", &hourly, 980.0, 2),
            provider("google", &hourly, 310.0, 3),
        ],
        kind: ChartKind::StackedArea,
    };
    let tokens = TimeSeriesChart {
        title: "Tokens per hour by provider".to_owned(),
        y_label: "tokens".to_owned(),
        series: requests
            .series
            .iter()
            .map(|s| Series {
                name: s.name.clone(),
                values: s.values.iter().map(|v| v * 2_350.0).collect(),
            })
            .collect(),
        ..requests.clone()
    };
    let cost = TimeSeriesChart {
        title: "Cost per hour by provider".to_owned(),
        y_label: "USD".to_owned(),
        series: requests
            .series
            .iter()
            .zip([0.0011, 0.0017, 0.0004])
            .map(|(s, usd)| Series {
                name: s.name.clone(),
                values: s.values.iter().map(|v| v * usd).collect(),
            })
            .collect(),
        kind: ChartKind::StackedBars,
        ..requests.clone()
    };
    let latency = TimeSeriesChart {
        title: "Upstream latency".to_owned(),
        y_label: "ms".to_owned(),
        series: latency_percentiles(&hourly),
        kind: ChartKind::Lines,
        ..requests.clone()
    };
    let empty = TimeSeriesChart {
        title: "Requests per hour by provider".to_owned(),
        series: vec![Series {
            name: "openai".to_owned(),
            values: vec![0.0; hourly.len()],
        }],
        ..requests.clone()
    };

    let daily: Vec<i64> = (0..30).map(|d| DAY_START - 29 * DAY + d * DAY).collect();
    let many_keys = TimeSeriesChart {
        title: "Requests per day by key".to_owned(),
        y_label: "requests".to_owned(),
        buckets: daily.clone(),
        bucket_seconds: DAY,
        series: (0..12)
            .map(|k| {
                provider(
                    &format!("key-{:02}", k + 1),
                    &daily,
                    9_000.0 / (k as f64 + 1.0),
                    k,
                )
            })
            .collect(),
        kind: ChartKind::StackedBars,
    };
    let success = TimeSeriesChart {
        title: "Success rate".to_owned(),
        y_label: "%".to_owned(),
        series: vec![Series {
            name: "all providers".to_owned(),
            values: (0..24)
                .map(|h| {
                    if h == 15 {
                        91.5
                    } else {
                        99.2 + noise(h, 9) * 0.6
                    }
                })
                .collect(),
        }],
        kind: ChartKind::Lines,
        ..requests.clone()
    };

    let light = |format| RenderOptions {
        format,
        ..RenderOptions::default()
    };
    let dark = |format| RenderOptions {
        theme: Theme::Dark,
        format,
        ..RenderOptions::default()
    };
    let samples = [
        ("stacked_light.svg", &requests, light(Format::Svg)),
        ("stacked_light.png", &requests, light(Format::Png)),
        ("stacked_dark.png", &tokens, dark(Format::Png)),
        ("lines_light.png", &latency, light(Format::Png)),
        ("lines_dark.svg", &latency, dark(Format::Svg)),
        ("bars_light.png", &cost, light(Format::Png)),
        ("empty.png", &empty, light(Format::Png)),
        ("many_keys_daily_light.png", &many_keys, light(Format::Png)),
        ("success_dark.png", &success, dark(Format::Png)),
    ];
    for (name, chart, opts) in samples {
        let bytes = render(chart, &opts)?;
        let path = out.join(name);
        std::fs::write(&path, bytes)?;
        println!("{}", path.display());
    }
    let small = RenderOptions {
        width: 420,
        height: 240,
        ..light(Format::Png)
    };
    std::fs::write(out.join("small_light.png"), render(&requests, &small)?)?;
    let mut narrow_keys = many_keys.clone();
    narrow_keys.title = "Requests per day by key, all providers, last 30 days (UTC)".to_owned();
    narrow_keys.series[0].name = "openai-production-eu-west-primary-key".to_owned();
    let narrow = RenderOptions {
        width: 480,
        height: 320,
        ..dark(Format::Png)
    };
    std::fs::write(
        out.join("many_keys_narrow_dark.png"),
        render(&narrow_keys, &narrow)?,
    )?;
    let retina = RenderOptions {
        width: 1800,
        height: 720,
        ..dark(Format::Png)
    };
    std::fs::write(out.join("retina_dark.png"), render(&cost, &retina)?)?;
    Ok(())
}

/// Traffic with a peak mid-afternoon UTC and a quiet night.
fn provider(name: &str, buckets: &[i64], peak: f64, seed: u64) -> Series {
    let values = daily_cycle(buckets, seed)
        .into_iter()
        .map(|v| (peak * v).round())
        .collect();
    Series {
        name: name.to_owned(),
        values,
    }
}

/// 0.1..1.15: load through the day, peaking mid-afternoon UTC.
fn daily_cycle(buckets: &[i64], seed: u64) -> Vec<f64> {
    buckets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let hour = (t.rem_euclid(DAY) / HOUR) as f64;
            let cycle = 0.55 + 0.45 * ((hour - 9.0) / 24.0 * 2.0 * PI).sin();
            cycle * (0.85 + 0.3 * noise(i as u64, seed))
        })
        .collect()
}

fn latency_percentiles(buckets: &[i64]) -> Vec<Series> {
    let load = daily_cycle(buckets, 7);
    let line = |name: &str, base: f64, spread: f64, seed: u64| Series {
        name: name.to_owned(),
        values: load
            .iter()
            .enumerate()
            .map(|(i, l)| (base + spread * l * (0.8 + 0.4 * noise(i as u64, seed))).round())
            .collect(),
    };
    vec![
        line("p50", 420.0, 180.0, 4),
        line("p95", 1100.0, 900.0, 5),
        line("p99", 1900.0, 2100.0, 6),
    ]
}

/// Deterministic noise in 0..1, so the samples are the same on every run.
fn noise(i: u64, seed: u64) -> f64 {
    let mut x = i
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(seed.wrapping_mul(1_442_695_040_888_963_407));
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    (x % 10_000) as f64 / 10_000.0
}
