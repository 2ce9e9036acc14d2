//! The data marks inside the plot area: stacked bands, stacked bars and
//! lines, drawn on axes that [`crate::draw`] has already laid out.

use plotters::coord::cartesian::Cartesian2d;
use plotters::prelude::{
    ChartContext, Circle, DrawingBackend, PathElement, Polygon, RGBColor, Rectangle, ShapeStyle,
};
use plotters::style::Color;

use crate::draw::draw_err;
use crate::ticks::TickedRange;
use crate::{ChartError, Series};

pub(crate) type Canvas<'a, DB> = ChartContext<'a, DB, Cartesian2d<TickedRange, TickedRange>>;

/// Per-series colours and stroke sizes, indexed like the series.
pub(crate) struct MarkStyle {
    /// Lines, band edges and markers.
    pub edges: Vec<RGBColor>,
    /// Band and bar interiors.
    pub fills: Vec<RGBColor>,
    pub line_width: u32,
    pub marker_radius: i32,
}

impl MarkStyle {
    fn stroke(&self, k: usize) -> ShapeStyle {
        ShapeStyle::from(self.edges[k]).stroke_width(self.line_width)
    }
}

/// Half a bar's width in buckets: bars fill 72% of their slot.
const BAR_HALF_WIDTH: f64 = 0.36;

/// One stacked bar per bucket; `bands` comes from [`cumulative`].
pub(crate) fn draw_bars<DB: DrawingBackend>(
    chart: &mut Canvas<'_, DB>,
    bands: &[Vec<f64>],
    style: &MarkStyle,
) -> Result<(), ChartError> {
    let n = bands.first().map_or(0, Vec::len);
    let zeros = vec![0.0; n];
    for (k, upper) in bands.iter().enumerate() {
        let lower = if k == 0 { &zeros } else { &bands[k - 1] };
        let fill = style.fills[k].filled();
        chart
            .draw_series((0..n).filter(|&i| upper[i] > lower[i]).map(|i| {
                let x = i as f64;
                Rectangle::new(
                    [
                        (x - BAR_HALF_WIDTH, lower[i]),
                        (x + BAR_HALF_WIDTH, upper[i]),
                    ],
                    fill,
                )
            }))
            .map_err(draw_err)?;
    }
    Ok(())
}

/// Filled bands stacked bottom-up, each with its top edge drawn as a line.
pub(crate) fn draw_bands<DB: DrawingBackend>(
    chart: &mut Canvas<'_, DB>,
    bands: &[Vec<f64>],
    style: &MarkStyle,
) -> Result<(), ChartError> {
    let n = bands.first().map_or(0, Vec::len);
    let zeros = vec![0.0; n];
    for (k, upper) in bands.iter().enumerate() {
        let lower = if k == 0 { &zeros } else { &bands[k - 1] };
        let edge: Vec<(f64, f64)> = upper
            .iter()
            .enumerate()
            .map(|(i, v)| (i as f64, *v))
            .collect();
        let mut outline = edge.clone();
        outline.extend(lower.iter().enumerate().rev().map(|(i, v)| (i as f64, *v)));
        chart
            .draw_series([Polygon::new(outline, style.fills[k].filled())])
            .map_err(draw_err)?;
        chart
            .draw_series([PathElement::new(edge, style.stroke(k))])
            .map_err(draw_err)?;
    }
    Ok(())
}

/// One line per series, broken at gaps, with a point on every value: a sparse series (a
/// request now and then) reads as points, not as lines that seem to stop.
pub(crate) fn draw_lines<DB: DrawingBackend>(
    chart: &mut Canvas<'_, DB>,
    series: &[Series],
    style: &MarkStyle,
) -> Result<(), ChartError> {
    for (k, s) in series.iter().enumerate() {
        let stroke = style.stroke(k);
        for run in finite_runs(&s.values) {
            if run.len() > 1 {
                chart
                    .draw_series([PathElement::new(run.clone(), stroke)])
                    .map_err(draw_err)?;
            }
            chart
                .draw_series(
                    run.into_iter()
                        .map(|point| Circle::new(point, style.marker_radius, stroke.filled())),
                )
                .map_err(draw_err)?;
        }
    }
    Ok(())
}

/// Running totals per bucket: band `k` spans `result[k - 1]..result[k]`.
/// Gaps and negative values add nothing, since a band cannot be negative.
pub(crate) fn cumulative(series: &[Series], n: usize) -> Vec<Vec<f64>> {
    let mut running = vec![0.0; n];
    series
        .iter()
        .map(|s| {
            for (total, v) in running.iter_mut().zip(&s.values) {
                if v.is_finite() && *v > 0.0 {
                    *total += *v;
                }
            }
            running.clone()
        })
        .collect()
}

/// Consecutive finite values as (bucket index, value) runs; non-finite
/// values break the line. Negative values are drawn at 0, the axis floor.
fn finite_runs(values: &[f64]) -> Vec<Vec<(f64, f64)>> {
    let mut runs = Vec::new();
    let mut current = Vec::new();
    for (i, v) in values.iter().enumerate() {
        if v.is_finite() {
            current.push((i as f64, v.max(0.0)));
        } else if !current.is_empty() {
            runs.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(values: &[f64]) -> Series {
        Series {
            name: "s".to_owned(),
            values: values.to_vec(),
        }
    }

    #[test]
    fn bands_stack_and_ignore_gaps_and_negatives() {
        let bands = cumulative(&[s(&[1.0, f64::NAN]), s(&[2.0, -3.0]), s(&[0.5, 4.0])], 2);
        assert_eq!(bands, vec![vec![1.0, 0.0], vec![3.0, 0.0], vec![3.5, 4.0]]);
    }

    #[test]
    fn gaps_break_lines() {
        let runs = finite_runs(&[1.0, 2.0, f64::NAN, 3.0, f64::NAN, 4.0, -1.0]);
        assert_eq!(
            runs,
            vec![
                vec![(0.0, 1.0), (1.0, 2.0)],
                vec![(3.0, 3.0)],
                vec![(5.0, 4.0), (6.0, 0.0)],
            ]
        );
    }
}
