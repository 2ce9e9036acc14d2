//! Axis arithmetic: where ticks go and how their labels read. Kept apart
//! from drawing so every rule here is a plain function with a unit test.

use std::ops::Range;

use chrono::{DateTime, Datelike, Timelike};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};

/// How y values are written, decided from the chart's `y_label`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    Usd,
    Percent,
    /// Milliseconds: "1,500" rather than "1.5k", which reads oddly as a
    /// duration.
    Millis,
    Plain,
}

impl Unit {
    pub(crate) fn from_label(label: &str) -> Self {
        let label = label.trim();
        if label.eq_ignore_ascii_case("usd") || label == "$" {
            Unit::Usd
        } else if label == "%" {
            Unit::Percent
        } else if label.eq_ignore_ascii_case("ms") {
            Unit::Millis
        } else {
            Unit::Plain
        }
    }
}

/// A y axis from 0 to `top` with a tick every `step`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct YScale {
    pub top: f64,
    pub step: f64,
}

impl YScale {
    pub(crate) fn ticks(&self) -> Vec<f64> {
        // Rounded, not floored: top is a multiple of step up to float error.
        let n = (self.top / self.step).round() as usize;
        (0..=n).map(|i| i as f64 * self.step).collect()
    }
}

/// Share of the largest value left free above it, so the peak does not
/// touch the frame.
const HEADROOM: f64 = 0.06;

/// A 0-based scale that fits `max` with a little headroom, using about
/// `target_ticks` intervals of 1, 2, 2.5 or 5 × 10^k. Percentages stop at
/// 100 whenever the data does.
pub(crate) fn y_scale(max: f64, target_ticks: usize, unit: Unit) -> YScale {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let wanted = max * (1.0 + HEADROOM);
    let step = nice_step(wanted / target_ticks.max(1) as f64);
    let mut top = (wanted / step).ceil() * step;
    if unit == Unit::Percent && max <= 100.0 && top > 100.0 {
        top = 100.0;
    }
    YScale { top, step }
}

fn nice_step(raw: f64) -> f64 {
    let magnitude = 10f64.powf(raw.log10().floor());
    let fraction = raw / magnitude;
    let nice = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .find(|&n| n >= fraction - 1e-9)
        .unwrap_or(10.0);
    nice * magnitude
}

/// Fewest decimals that write `step` exactly, so neighbouring ticks never
/// print the same text.
fn decimals_for(step: f64) -> usize {
    (0..=6)
        .find(|&d| {
            let scaled = step * 10f64.powi(d as i32);
            (scaled - scaled.round()).abs() < 1e-6 * scaled.abs().max(1.0)
        })
        .unwrap_or(6)
}

/// Formats a y tick: "1.2k", "3.4M" for counts, "$0.12" for USD, "95%" for
/// percentages. `step` is the tick spacing and decides the precision.
pub(crate) fn format_tick(value: f64, step: f64, unit: Unit) -> String {
    if value == 0.0 {
        return match unit {
            Unit::Usd => "$0".to_owned(),
            Unit::Percent => "0%".to_owned(),
            Unit::Millis | Unit::Plain => "0".to_owned(),
        };
    }
    match unit {
        Unit::Percent => format!("{}%", trimmed(value, decimals_for(step))),
        Unit::Usd if value.abs() < 1000.0 => {
            // Cents always show below a dollar step: "$0.10", not "$0.1".
            let d = if step < 1.0 {
                decimals_for(step).max(2)
            } else {
                0
            };
            format!("${value:.d$}")
        }
        Unit::Usd => format!("${}", compact(value, step)),
        Unit::Millis if value.abs() < 1e6 => grouped(value, decimals_for(step)),
        Unit::Millis | Unit::Plain => compact(value, step),
    }
}

fn compact(value: f64, step: f64) -> String {
    let (scale, suffix) = match value.abs() {
        v if v >= 1e12 => (1e12, "T"),
        v if v >= 1e9 => (1e9, "B"),
        v if v >= 1e6 => (1e6, "M"),
        v if v >= 1e3 => (1e3, "k"),
        _ => (1.0, ""),
    };
    format!(
        "{}{suffix}",
        trimmed(value / scale, decimals_for(step / scale))
    )
}

/// Thousands separated by commas: 12,500.
fn grouped(value: f64, decimals: usize) -> String {
    let text = trimmed(value.abs(), decimals);
    let (int, frac) = text
        .split_once('.')
        .map_or((text.as_str(), ""), |(i, f)| (i, f));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    if value < 0.0 {
        out.insert(0, '-');
    }
    out
}

fn trimmed(value: f64, decimals: usize) -> String {
    let s = format!("{value:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// Indices of the buckets that get an x label: at most `max_labels`, spaced
/// by a step that reads naturally for the bucket size (every 3 or 6 hours,
/// every week), and on round clock times when the step divides a day.
pub(crate) fn x_tick_indices(
    buckets: &[i64],
    bucket_seconds: i64,
    max_labels: usize,
) -> Vec<usize> {
    let n = buckets.len();
    if n == 0 {
        return Vec::new();
    }
    let max_labels = max_labels.max(2);
    let candidates: &[usize] = match bucket_seconds {
        3600 => &[1, 2, 3, 4, 6, 12, 24, 48, 72, 168, 336, 720],
        86400 => &[1, 2, 7, 14, 28, 56, 91, 182, 364],
        _ => &[1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
    };
    let step = candidates
        .iter()
        .copied()
        .find(|&s| n.div_ceil(s) <= max_labels)
        .unwrap_or_else(|| n.div_ceil(max_labels));

    let step_seconds = i64::try_from(step)
        .unwrap_or(i64::MAX)
        .saturating_mul(bucket_seconds);
    if step_seconds > 0 && 86400 % step_seconds == 0 {
        let aligned: Vec<usize> = (0..n)
            .filter(|&i| buckets[i].rem_euclid(step_seconds) == 0)
            .collect();
        if aligned.len() >= 2 || (n <= step && aligned.len() == 1) {
            return aligned;
        }
    }
    (0..n).step_by(step).collect()
}

/// "HH:MM" (UTC) for sub-day buckets, "MM-DD" for daily ones.
pub(crate) fn format_bucket(start: i64, bucket_seconds: i64) -> String {
    let Some(t) = DateTime::from_timestamp(start, 0) else {
        return String::new();
    };
    if bucket_seconds >= 86400 {
        format!("{:02}-{:02}", t.month(), t.day())
    } else {
        format!("{:02}:{:02}", t.hour(), t.minute())
    }
}

/// A linear f64 axis whose ticks (and grid lines) are exactly the given
/// values. plotters' own `with_key_points` wrapper cannot take a label
/// formatter on f64 axes, and its automatic ticks land on fractional buckets.
#[derive(Debug, Clone)]
pub(crate) struct TickedRange {
    pub range: Range<f64>,
    pub ticks: Vec<f64>,
}

impl Ranged for TickedRange {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let span = self.range.end - self.range.start;
        if span <= 0.0 {
            return (limit.0 + limit.1) / 2;
        }
        let share = (value - self.range.start) / span;
        limit.0 + (f64::from(limit.1 - limit.0) * share).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Light (minor) grid lines are not drawn at all: one grid line per
        // labelled tick is enough to read a value off the chart.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_is_read_from_the_label() {
        assert_eq!(Unit::from_label("USD"), Unit::Usd);
        assert_eq!(Unit::from_label(" usd "), Unit::Usd);
        assert_eq!(Unit::from_label("%"), Unit::Percent);
        assert_eq!(Unit::from_label("requests"), Unit::Plain);
    }

    #[test]
    fn scale_starts_at_zero_with_headroom_on_round_steps() {
        let s = y_scale(940.0, 5, Unit::Plain);
        assert_eq!(s.step, 200.0);
        assert_eq!(s.top, 1000.0);
        assert_eq!(s.ticks(), vec![0.0, 200.0, 400.0, 600.0, 800.0, 1000.0]);
        let s = y_scale(1000.0, 5, Unit::Plain);
        assert!(s.top > 1000.0, "peak must not touch the frame: {s:?}");
    }

    #[test]
    fn percent_scale_stops_at_100() {
        let s = y_scale(99.7, 5, Unit::Percent);
        assert_eq!(s.top, 100.0);
        assert_eq!(s.ticks().last(), Some(&100.0));
    }

    #[test]
    fn zero_or_nan_max_still_gives_a_scale() {
        assert!(y_scale(0.0, 5, Unit::Plain).top > 0.0);
        assert!(y_scale(f64::NAN, 5, Unit::Plain).top > 0.0);
    }

    #[test]
    fn counts_are_compact() {
        assert_eq!(format_tick(1200.0, 200.0, Unit::Plain), "1.2k");
        assert_eq!(format_tick(1000.0, 500.0, Unit::Plain), "1k");
        assert_eq!(format_tick(2500.0, 2500.0, Unit::Plain), "2.5k");
        assert_eq!(format_tick(3_400_000.0, 200_000.0, Unit::Plain), "3.4M");
        assert_eq!(format_tick(250.0, 50.0, Unit::Plain), "250");
        assert_eq!(format_tick(0.25, 0.25, Unit::Plain), "0.25");
        assert_eq!(format_tick(0.0, 0.25, Unit::Plain), "0");
    }

    #[test]
    fn dollars_show_cents_below_a_dollar() {
        assert_eq!(format_tick(0.12, 0.02, Unit::Usd), "$0.12");
        assert_eq!(format_tick(0.1, 0.05, Unit::Usd), "$0.10");
        assert_eq!(format_tick(0.005, 0.005, Unit::Usd), "$0.005");
        assert_eq!(format_tick(20.0, 5.0, Unit::Usd), "$20");
        assert_eq!(format_tick(1500.0, 500.0, Unit::Usd), "$1.5k");
        assert_eq!(format_tick(0.0, 0.05, Unit::Usd), "$0");
    }

    #[test]
    fn milliseconds_are_grouped_not_abbreviated() {
        assert_eq!(Unit::from_label("ms"), Unit::Millis);
        assert_eq!(format_tick(1500.0, 500.0, Unit::Millis), "1,500");
        assert_eq!(format_tick(250.0, 50.0, Unit::Millis), "250");
        assert_eq!(format_tick(125_000.0, 25_000.0, Unit::Millis), "125,000");
        assert_eq!(format_tick(2.5, 0.5, Unit::Millis), "2.5");
    }

    #[test]
    fn percentages() {
        assert_eq!(format_tick(75.0, 25.0, Unit::Percent), "75%");
        assert_eq!(format_tick(99.5, 0.5, Unit::Percent), "99.5%");
    }

    #[test]
    fn hourly_ticks_land_on_round_hours() {
        // 24 hourly buckets starting 05:00 UTC.
        let start = 1_700_000_000 - 1_700_000_000 % 86400 + 5 * 3600;
        let buckets: Vec<i64> = (0..24).map(|i| start + i * 3600).collect();
        let idx = x_tick_indices(&buckets, 3600, 8);
        let labels: Vec<String> = idx
            .iter()
            .map(|&i| format_bucket(buckets[i], 3600))
            .collect();
        assert_eq!(
            labels,
            [
                "06:00", "09:00", "12:00", "15:00", "18:00", "21:00", "00:00", "03:00"
            ]
        );
    }

    #[test]
    fn few_labels_when_narrow() {
        let buckets: Vec<i64> = (0..30).map(|i| i * 86400).collect();
        let idx = x_tick_indices(&buckets, 86400, 5);
        assert!(idx.len() <= 5, "{idx:?}");
        assert_eq!(idx[1] - idx[0], 7);
    }

    #[test]
    fn bucket_labels() {
        // 2023-11-14 22:13:20 UTC
        assert_eq!(format_bucket(1_700_000_000, 3600), "22:13");
        assert_eq!(format_bucket(1_700_000_000, 86400), "11-14");
    }
}
