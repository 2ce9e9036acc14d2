//! Folding many series into a readable few: a chart with fifteen colours
//! cannot be read, so the long tail is summed into "other".

use crate::Series;

/// The name of the series that collects everything [`fold_series`] drops.
pub const OTHER_SERIES_NAME: &str = "other";

/// Keeps at most `max` series. When there are more, the `max - 1` series with
/// the largest totals are kept (in their original order, so colours stay put)
/// and the rest are summed bucket by bucket into a final series named
/// [`OTHER_SERIES_NAME`]. Non-finite values count as zero in totals and sums.
///
/// `max` of 0 or 1 is treated as 1: everything is summed into "other".
/// Series are assumed to have equal lengths; a shorter series contributes
/// zeros to "other" where it has no value.
pub fn fold_series(series: &[Series], max: usize) -> Vec<Series> {
    let max = max.max(1);
    if series.len() <= max {
        return series.to_vec();
    }
    let keep = max - 1;

    let mut by_total: Vec<(usize, f64)> = series
        .iter()
        .enumerate()
        .map(|(i, s)| (i, s.values.iter().copied().map(finite_or_zero).sum()))
        .collect();
    // Ties broken by original position, so the result does not depend on
    // the sort's stability.
    by_total.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut kept: Vec<usize> = by_total.iter().take(keep).map(|&(i, _)| i).collect();
    kept.sort_unstable();

    let len = series.iter().map(|s| s.values.len()).max().unwrap_or(0);
    let mut other = vec![0.0; len];
    for (i, s) in series.iter().enumerate() {
        if kept.contains(&i) {
            continue;
        }
        for (slot, v) in other.iter_mut().zip(&s.values) {
            *slot += finite_or_zero(*v);
        }
    }

    let mut out: Vec<Series> = kept.iter().map(|&i| series[i].clone()).collect();
    out.push(Series {
        name: OTHER_SERIES_NAME.to_owned(),
        values: other,
    });
    out
}

fn finite_or_zero(v: f64) -> f64 {
    if v.is_finite() { v } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(name: &str, values: &[f64]) -> Series {
        Series {
            name: name.to_owned(),
            values: values.to_vec(),
        }
    }

    #[test]
    fn few_series_are_returned_unchanged() {
        let input = vec![s("a", &[1.0]), s("b", &[2.0])];
        assert_eq!(fold_series(&input, 8), input);
    }

    #[test]
    fn tail_is_summed_into_other_and_order_is_kept() {
        let input = vec![
            s("small", &[1.0, 0.0]),
            s("big", &[10.0, 10.0]),
            s("tiny", &[0.5, 0.5]),
            s("mid", &[5.0, 5.0]),
        ];
        let out = fold_series(&input, 3);
        let names: Vec<&str> = out.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["big", "mid", "other"]);
        assert_eq!(out[2].values, vec![1.5, 0.5]);
    }

    #[test]
    fn twelve_series_fold_to_seven_plus_other() {
        let input: Vec<Series> = (0..12)
            .map(|i| s(&format!("key-{i}"), &[f64::from(i), 1.0]))
            .collect();
        let out = fold_series(&input, 8);
        assert_eq!(out.len(), 8);
        assert_eq!(out[0].name, "key-5");
        assert_eq!(out[6].name, "key-11");
        assert_eq!(out[7].name, OTHER_SERIES_NAME);
        // keys 0..=4 folded: 0+1+2+3+4 and five ones.
        assert_eq!(out[7].values, vec![10.0, 5.0]);
        let total_in: f64 = input.iter().flat_map(|s| &s.values).sum();
        let total_out: f64 = out.iter().flat_map(|s| &s.values).sum();
        assert!((total_in - total_out).abs() < 1e-9);
    }

    #[test]
    fn non_finite_values_count_as_zero_in_other() {
        let input = vec![
            s("a", &[3.0]),
            s("b", &[f64::NAN]),
            s("c", &[f64::INFINITY]),
        ];
        let out = fold_series(&input, 2);
        assert_eq!(out[0].name, "a");
        assert_eq!(out[1].values, vec![0.0]);
    }

    #[test]
    fn max_zero_sums_everything() {
        let input = vec![s("a", &[1.0]), s("b", &[2.0])];
        let out = fold_series(&input, 0);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].values, vec![3.0]);
    }
}
