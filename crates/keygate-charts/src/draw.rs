//! Laying out and drawing one chart on any plotters backend: title, legend,
//! axes, grid, then the series. Sizes are in pixels at 900x360 and scale
//! with the canvas so a 2x PNG for a retina screen looks the same, only
//! sharper.

use plotters::coord::Shift;
use plotters::prelude::{
    ChartBuilder, DrawingArea, DrawingBackend, LabelAreaPosition, PathElement, RGBColor, Rectangle,
};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{Color, IntoFont, TRANSPARENT, TextStyle};

use crate::marks::{self, MarkStyle};
use crate::palette::{Chrome, blend, chrome, palette};
use crate::ticks::{TickedRange, Unit, format_bucket, format_tick, x_tick_indices, y_scale};
use crate::{ChartError, ChartKind, Series, Theme, TimeSeriesChart};

/// Shown instead of axes when there is nothing to plot.
pub(crate) const NO_DATA_MESSAGE: &str = "No data for this period";

/// Legend names longer than this are cut with an ellipsis, so one long key
/// label cannot push every other entry off the chart.
const MAX_LEGEND_NAME_CHARS: usize = 28;

// Font sizes in plotters units at 900x360. SVG writes `size / 1.24` as
// CSS pixels, so 15.5 is a 12.5px label in the browser: legends and ticks
// stay at 12px or more.
const TITLE_SIZE: f64 = 19.0;
const LEGEND_SIZE: f64 = 15.5;
const TICK_SIZE: f64 = 15.0;
const AXIS_NAME_SIZE: f64 = 15.0;
const MESSAGE_SIZE: f64 = 16.0;

pub(crate) struct Plot<'a> {
    pub chart: &'a TimeSeriesChart,
    /// Already folded to at most [`crate::MAX_SERIES`].
    pub series: &'a [Series],
    pub theme: Theme,
    pub font: &'static str,
    /// Set when drawing to a bitmap: plotters' rasteriser places
    /// vertically centred text a few pixels too high, SVG viewers do not.
    pub raster_text: bool,
}

/// Pixel sizes that scale with the canvas.
struct Metrics {
    scale: f64,
}

impl Metrics {
    fn new(width: u32, height: u32) -> Self {
        let scale = (f64::from(width) / 900.0)
            .min(f64::from(height) / 360.0)
            .clamp(0.75, 3.0);
        Self { scale }
    }

    fn px(&self, v: f64) -> i32 {
        (v * self.scale).round() as i32
    }

    fn size(&self, v: f64) -> f64 {
        v * self.scale
    }
}

pub(crate) fn draw_err<E: std::fmt::Display>(e: E) -> ChartError {
    ChartError::Draw(e.to_string())
}

fn rgb((r, g, b): (u8, u8, u8)) -> RGBColor {
    RGBColor(r, g, b)
}

impl Plot<'_> {
    /// Draws the chart; answers where its plot area and buckets ended up (`None` for the
    /// no-data picture), so a page can put hover values over the image.
    pub(crate) fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<Option<crate::PlotLayout>, ChartError> {
        let colours = chrome(self.theme);
        let (width, height) = root.dim_in_pixel();
        let m = Metrics::new(width, height);
        root.fill(&rgb(colours.background)).map_err(draw_err)?;

        let pad = m.px(16.0);
        let title_style = self.text(m.size(TITLE_SIZE), colours.title);
        let title = fit_text(
            root,
            &self.chart.title,
            &title_style,
            width as i32 - 2 * pad,
        )?;
        root.draw_text(
            &title,
            &title_style.pos(Pos::new(HPos::Left, VPos::Top)),
            (pad, pad),
        )
        .map_err(draw_err)?;
        let top = pad + m.px(TITLE_SIZE) + m.px(10.0);

        if self.is_empty() {
            return self.draw_no_data(root, &m, &colours, top).map(|()| None);
        }

        let legend_bottom = self.draw_legend(root, &m, pad, top)?;
        self.draw_axes_and_series(root, &m, &colours, legend_bottom + m.px(16.0))
            .map(Some)
    }

    /// An empty grid with the message over it, so the card keeps the shape
    /// of a chart instead of looking broken.
    fn draw_no_data<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        m: &Metrics,
        colours: &Chrome,
        top: i32,
    ) -> Result<(), ChartError> {
        let (width, height) = root.dim_in_pixel();
        let (width, height) = (width as i32, height as i32);
        let pad = m.px(16.0);
        let (left, right) = (pad, width - pad);
        let (grid_top, bottom) = (top + m.px(24.0), height - m.px(34.0));
        let rows = 4;
        for i in 0..=rows {
            let y = grid_top + (bottom - grid_top) * i / rows;
            let colour = if i == rows {
                colours.axis
            } else {
                colours.grid
            };
            root.draw(&PathElement::new(vec![(left, y), (right, y)], rgb(colour)))
                .map_err(draw_err)?;
        }

        let style = self
            .text(m.size(MESSAGE_SIZE), colours.muted)
            .pos(Pos::new(HPos::Center, VPos::Center));
        let (text_width, text_height) = root
            .estimate_text_size(NO_DATA_MESSAGE, &style)
            .map_err(draw_err)?;
        let centre = (width / 2, (grid_top + bottom) / 2);
        let (half_w, half_h) = (
            text_width as i32 / 2 + m.px(12.0),
            text_height as i32 / 2 + m.px(8.0),
        );
        root.draw(&Rectangle::new(
            [
                (centre.0 - half_w, centre.1 - half_h),
                (centre.0 + half_w, centre.1 + half_h),
            ],
            rgb(colours.background).filled(),
        ))
        .map_err(draw_err)?;
        let nudged = (centre.0, centre.1 + self.centre_nudge(m.size(MESSAGE_SIZE)));
        root.draw_text(NO_DATA_MESSAGE, &style, nudged)
            .map_err(draw_err)
    }

    fn text(&self, size: f64, colour: (u8, u8, u8)) -> TextStyle<'static> {
        (self.font, size).into_font().color(&rgb(colour))
    }

    /// Downward shift that makes vertically centred text look centred.
    fn centre_nudge(&self, font_size: f64) -> i32 {
        if self.raster_text {
            (font_size * 0.2).round() as i32
        } else {
            0
        }
    }

    fn colour(&self, index: usize) -> (u8, u8, u8) {
        let p = palette(self.theme);
        p[index % p.len()]
    }

    fn is_empty(&self) -> bool {
        self.chart.buckets.is_empty()
            || self
                .series
                .iter()
                .flat_map(|s| &s.values)
                .all(|v| !v.is_finite() || *v == 0.0)
    }

    /// Draws one swatch and name per series, wrapping into rows; returns the
    /// y just below the last row.
    fn draw_legend<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        m: &Metrics,
        pad: i32,
        top: i32,
    ) -> Result<i32, ChartError> {
        let colours = chrome(self.theme);
        let style = self
            .text(m.size(LEGEND_SIZE), colours.text)
            .pos(Pos::new(HPos::Left, VPos::Center));
        let nudge = self.centre_nudge(m.size(LEGEND_SIZE));
        let right = root.dim_in_pixel().0 as i32 - pad;
        let row_height = m.px(20.0);
        let swatch_width = if self.chart.kind == ChartKind::Lines {
            m.px(16.0)
        } else {
            m.px(11.0)
        };
        let (mut x, mut row_centre) = (pad, top + row_height / 2);

        for (i, series) in self.series.iter().enumerate() {
            let name = truncate_chars(&series.name, MAX_LEGEND_NAME_CHARS);
            let (text_width, _) = root.estimate_text_size(&name, &style).map_err(draw_err)?;
            let item_width = swatch_width + m.px(6.0) + text_width as i32;
            if x > pad && x + item_width > right {
                x = pad;
                row_centre += row_height;
            }
            let colour = rgb(self.colour(i));
            if self.chart.kind == ChartKind::Lines {
                let half = m.px(1.5).max(1);
                root.draw(&Rectangle::new(
                    [
                        (x, row_centre - half),
                        (x + swatch_width, row_centre + half),
                    ],
                    colour.filled(),
                ))
            } else {
                let half = swatch_width / 2;
                root.draw(&Rectangle::new(
                    [
                        (x, row_centre - half),
                        (x + swatch_width, row_centre + half),
                    ],
                    colour.filled(),
                ))
            }
            .map_err(draw_err)?;
            root.draw_text(
                &name,
                &style,
                (x + swatch_width + m.px(6.0), row_centre + nudge),
            )
            .map_err(draw_err)?;
            x += item_width + m.px(18.0);
        }
        Ok(row_centre + row_height / 2)
    }

    fn draw_axes_and_series<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        m: &Metrics,
        colours: &Chrome,
        top: i32,
    ) -> Result<crate::PlotLayout, ChartError> {
        let (width, height) = root.dim_in_pixel();
        let (width, height) = (width as i32, height as i32);
        let n = self.chart.buckets.len();
        let unit = Unit::from_label(&self.chart.y_label);
        let stacked = self.chart.kind != ChartKind::Lines;
        let bands = if stacked {
            marks::cumulative(self.series, n)
        } else {
            Vec::new()
        };
        let max = if stacked {
            bands
                .last()
                .map_or(0.0, |top| top.iter().copied().fold(0.0, f64::max))
        } else {
            self.series
                .iter()
                .flat_map(|s| &s.values)
                .copied()
                .filter(|v| v.is_finite())
                .fold(0.0, f64::max)
        };

        let pad = m.px(16.0);
        let x_label_area = m.px(26.0);
        let margin_bottom = m.px(8.0);
        let plot_height = height - top - x_label_area - margin_bottom;
        let target_ticks = (plot_height / m.px(45.0)).clamp(2, 6) as usize;
        let scale = y_scale(max, target_ticks, unit);
        let y_ticks = scale.ticks();

        let tick_style = self.text(m.size(TICK_SIZE), colours.muted);
        let desc_style = self.text(m.size(AXIS_NAME_SIZE), colours.text);
        let mut widest_tick = 0;
        for v in &y_ticks {
            let label = format_tick(*v, scale.step, unit);
            widest_tick = widest_tick.max(
                root.estimate_text_size(&label, &tick_style)
                    .map_err(draw_err)?
                    .0 as i32,
            );
        }
        let y_label_area = widest_tick + m.px(AXIS_NAME_SIZE) + m.px(20.0);
        let margin_right = pad + m.px(6.0);
        let plot_width = width - pad - y_label_area - margin_right;
        let (label_width, _) = root
            .estimate_text_size("00:00", &tick_style)
            .map_err(draw_err)?;
        let max_x_labels = (plot_width / (label_width as i32 + m.px(28.0))).max(2) as usize;
        let x_ticks: Vec<f64> =
            x_tick_indices(&self.chart.buckets, self.chart.bucket_seconds, max_x_labels)
                .into_iter()
                .map(|i| i as f64)
                .collect();

        // Bars sit in the middle of their bucket; areas run edge to edge. A
        // single bucket has no edges to run between, so it is a bar; so are
        // days, and buckets of which most are empty, which as an area would
        // draw ramps from zero that look like traffic that never was.
        let filled = bands
            .last()
            .map_or(0, |top| top.iter().filter(|v| **v > 0.0).count());
        let as_bars = stacked
            && (self.chart.kind == ChartKind::StackedBars
                || n == 1
                || self.chart.bucket_seconds >= 86_400
                || filled * 2 < n);
        // Points sit in their bucket's middle too, so one at either end is not cut in half.
        let x_range = if stacked && !as_bars {
            0.0..(n as f64 - 1.0)
        } else {
            -0.5..(n as f64 - 0.5)
        };

        let mut chart = ChartBuilder::on(root)
            .margin_top(top)
            .margin_left(pad)
            .margin_right(margin_right)
            .margin_bottom(margin_bottom)
            .x_label_area_size(x_label_area)
            .y_label_area_size(y_label_area)
            .build_cartesian_2d(
                TickedRange {
                    range: x_range,
                    ticks: x_ticks,
                },
                TickedRange {
                    range: 0.0..scale.top,
                    ticks: y_ticks,
                },
            )
            .map_err(draw_err)?;

        let buckets = &self.chart.buckets;
        let bucket_seconds = self.chart.bucket_seconds;
        let format_x = |x: &f64| {
            let i = x.round();
            if i >= 0.0 && (i as usize) < n {
                format_bucket(buckets[i as usize], bucket_seconds)
            } else {
                String::new()
            }
        };
        let format_y = |y: &f64| format_tick(*y, scale.step, unit);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .bold_line_style(rgb(colours.grid).stroke_width(1))
            .light_line_style(TRANSPARENT)
            .axis_style(rgb(colours.axis))
            .label_style(tick_style)
            .x_label_formatter(&format_x)
            .y_label_formatter(&format_y)
            .y_desc(self.chart.y_label.as_str())
            .axis_desc_style(desc_style)
            .y_label_offset(self.centre_nudge(m.size(TICK_SIZE)))
            .set_tick_mark_size(LabelAreaPosition::Left, m.px(4.0))
            .set_tick_mark_size(LabelAreaPosition::Bottom, m.px(4.0))
            .draw()
            .map_err(draw_err)?;

        // Fills a shade lighter than their edge (light theme) or barely
        // dimmed (dark theme, where blending toward the background muddies).
        let fill_amount = match self.theme {
            Theme::Light => 0.8,
            Theme::Dark => 0.9,
        };
        let colours_by_series: Vec<(u8, u8, u8)> =
            (0..self.series.len()).map(|k| self.colour(k)).collect();
        let style = MarkStyle {
            edges: colours_by_series.iter().copied().map(rgb).collect(),
            fills: colours_by_series
                .iter()
                .map(|c| rgb(blend(*c, colours.background, fill_amount)))
                .collect(),
            line_width: m.px(2.0).max(1) as u32,
            marker_radius: m.px(4.0),
        };
        if as_bars {
            marks::draw_bars(&mut chart, &bands, &style)?;
        } else if stacked {
            marks::draw_bands(&mut chart, &bands, &style)?;
        } else {
            marks::draw_lines(&mut chart, self.series, &style)?;
        }
        let (xs, ys) = chart.plotting_area().get_pixel_range();
        Ok(crate::PlotLayout {
            left: xs.start,
            top: ys.start,
            width: xs.end - xs.start,
            height: ys.end - ys.start,
            bucket_x: (0..n)
                .map(|i| chart.backend_coord(&(i as f64, 0.0)).0)
                .collect(),
        })
    }
}

fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// `text` shortened with an ellipsis until it is at most `max_width` wide.
fn fit_text<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle,
    max_width: i32,
) -> Result<String, ChartError> {
    let mut chars = text.chars().count();
    let mut candidate = text.to_owned();
    while chars > 1
        && root
            .estimate_text_size(&candidate, style)
            .map_err(draw_err)?
            .0 as i32
            > max_width
    {
        chars -= 1;
        candidate = truncate_chars(text, chars);
    }
    Ok(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_get_an_ellipsis() {
        assert_eq!(truncate_chars("openai", 28), "openai");
        assert_eq!(truncate_chars("abcdefghij", 5), "abcd…");
    }
}
