//! Usage charts for KeyGate: bucketed time series in, SVG or PNG bytes out.
//!
//! The server and the desktop shell hand this crate numbers they already
//! aggregated (requests, tokens, cost, latency per hour or day) and get back
//! a finished picture with title, legend, axes and grid, styled for the
//! light or dark UI theme.
//!
//! What it must never do: touch the file system, the network, the clock or
//! the database while rendering. Rendering is a pure function of its inputs,
//! so the same data always gives the same bytes and tests need no fixtures.
//! The only font it uses is DejaVu Sans embedded in the binary (see
//! `assets/DejaVuSans-LICENSE.txt`); it never looks for system fonts.

mod draw;
mod fold;
mod marks;
mod palette;
mod ticks;

use std::sync::OnceLock;

use plotters::prelude::{BitMapBackend, DrawingBackend, IntoDrawingArea, SVGBackend};
use plotters::style::FontStyle;

pub use fold::{OTHER_SERIES_NAME, fold_series};
pub use palette::palette;

/// Output encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// UTF-8 SVG text; labels are `<text>` elements, so it scales crisply.
    #[default]
    Svg,
    /// A PNG file, RGB 8-bit.
    Png,
}

/// Colour scheme, matching the UI's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Theme {
    #[default]
    Light,
    Dark,
}

/// One named line or band: one value per bucket of the chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

/// How the series are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartKind {
    /// Series stacked on each other as filled bands: totals by provider,
    /// model or key over time.
    StackedArea,
    /// The same as stacked bars, one bar per bucket.
    StackedBars,
    /// Independent lines: latency percentiles, success rate.
    Lines,
}

/// What to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeSeriesChart {
    /// Shown at the top, e.g. "Requests per hour by provider".
    pub title: String,
    /// The unit of the y axis, e.g. "requests", "tokens", "USD", "ms", "%".
    /// "USD" writes ticks as dollars; "%" expects values in 0–100.
    pub y_label: String,
    /// Bucket start times in unix seconds, ascending and equally spaced.
    pub buckets: Vec<i64>,
    /// Bucket width: 3600 labels the x axis "HH:MM", 86400 "MM-DD" (UTC).
    pub bucket_seconds: i64,
    /// Each series has exactly one value per bucket. More than
    /// [`MAX_SERIES`] are folded with [`fold_series`]. Non-finite values are
    /// gaps: zero in stacked charts, a break in a line.
    pub series: Vec<Series>,
    pub kind: ChartKind,
}

/// Size, theme and format of the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderOptions {
    pub width: u32,
    pub height: u32,
    pub theme: Theme,
    pub format: Format,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            width: 900,
            height: 360,
            theme: Theme::Light,
            format: Format::Svg,
        }
    }
}

/// Where a drawn chart's plot area is, in pixels of the picture, and the x of each bucket's
/// centre in it: what a page needs to show the value under the pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlotLayout {
    pub left: i32,
    pub top: i32,
    pub width: i32,
    pub height: i32,
    pub bucket_x: Vec<i32>,
}

/// A rendered chart and where its data went.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub bytes: Vec<u8>,
    /// `None` for the "No data for this period" picture.
    pub layout: Option<PlotLayout>,
    /// The series as drawn: at most [`MAX_SERIES`], the rest folded into "other".
    pub series: Vec<Series>,
}

/// Most series a chart shows; the rest are summed into "other".
pub const MAX_SERIES: usize = 8;
/// Largest width or height accepted, in pixels.
pub const MAX_DIMENSION: u32 = 4000;
/// Smallest width or height accepted: below it the labels cannot fit.
pub const MIN_DIMENSION: u32 = 160;

#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum ChartError {
    #[error(
        "chart size {width}x{height} is outside {MIN_DIMENSION}..={MAX_DIMENSION} pixels per side"
    )]
    SizeOutOfRange { width: u32, height: u32 },
    #[error("series {series:?} has {actual} values but the chart has {expected} buckets")]
    SeriesLengthMismatch {
        series: String,
        expected: usize,
        actual: usize,
    },
    #[error("bucket_seconds must be positive, got {0}")]
    InvalidBucketSeconds(i64),
    #[error("bucket start times must be strictly ascending")]
    BucketsNotAscending,
    #[error("embedded font could not be loaded: {0}")]
    Font(String),
    #[error("drawing the chart failed: {0}")]
    Draw(String),
    #[error("encoding the PNG failed: {0}")]
    Encode(String),
}

/// The font family name text is drawn with. PNG text is rasterised from the
/// embedded DejaVu Sans registered under this name; SVG viewers read it as a
/// CSS font list and fall back to the next entry if DejaVu is missing.
const FONT_FAMILY: &str = "DejaVu Sans, Helvetica, Arial, sans-serif";
static DEJAVU_SANS: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Registers the embedded font with plotters once per process. Needed for
/// both formats: plotters measures text with it to lay out labels.
fn ensure_font() -> Result<(), ChartError> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, DEJAVU_SANS)
                .map_err(|_| "DejaVuSans.ttf is not a valid font".to_owned())
        })
        .clone()
        .map_err(ChartError::Font)
}

/// Renders `chart` as SVG text bytes or PNG file bytes. Data with no buckets,
/// or only zeros, renders a chart saying "No data for this period".
pub fn render(chart: &TimeSeriesChart, opts: &RenderOptions) -> Result<Vec<u8>, ChartError> {
    render_with_layout(chart, opts).map(|r| r.bytes)
}

/// [`render`], with where the plot area and buckets are in the picture and the series as
/// drawn.
pub fn render_with_layout(
    chart: &TimeSeriesChart,
    opts: &RenderOptions,
) -> Result<Rendered, ChartError> {
    validate(chart, opts)?;
    ensure_font()?;
    let series = fold_series(&chart.series, MAX_SERIES);
    let plot = draw::Plot {
        chart,
        series: &series,
        theme: opts.theme,
        font: FONT_FAMILY,
        raster_text: opts.format == Format::Png,
    };
    let size = (opts.width, opts.height);
    let (bytes, layout) = match opts.format {
        Format::Svg => {
            let mut svg = String::new();
            let layout = {
                let backend = SVGBackend::with_string(&mut svg, size);
                draw_and_present(backend, &plot)?
            };
            (svg.into_bytes(), layout)
        }
        Format::Png => {
            // Sizes are capped at MAX_DIMENSION, so this cannot overflow.
            let mut rgb = vec![0u8; opts.width as usize * opts.height as usize * 3];
            let layout = {
                let backend = BitMapBackend::with_buffer(&mut rgb, size);
                draw_and_present(backend, &plot)?
            };
            (encode_png(&rgb, opts.width, opts.height)?, layout)
        }
    };
    Ok(Rendered {
        bytes,
        layout,
        series,
    })
}

fn draw_and_present<DB: DrawingBackend>(
    backend: DB,
    plot: &draw::Plot,
) -> Result<Option<PlotLayout>, ChartError> {
    let root = backend.into_drawing_area();
    let layout = plot.draw(&root)?;
    root.present()
        .map_err(|e| ChartError::Draw(e.to_string()))?;
    Ok(layout)
}

fn validate(chart: &TimeSeriesChart, opts: &RenderOptions) -> Result<(), ChartError> {
    let side_ok = |v: u32| (MIN_DIMENSION..=MAX_DIMENSION).contains(&v);
    if !side_ok(opts.width) || !side_ok(opts.height) {
        return Err(ChartError::SizeOutOfRange {
            width: opts.width,
            height: opts.height,
        });
    }
    if chart.bucket_seconds <= 0 {
        return Err(ChartError::InvalidBucketSeconds(chart.bucket_seconds));
    }
    if chart.buckets.windows(2).any(|w| w[0] >= w[1]) {
        return Err(ChartError::BucketsNotAscending);
    }
    let expected = chart.buckets.len();
    if let Some(bad) = chart.series.iter().find(|s| s.values.len() != expected) {
        return Err(ChartError::SeriesLengthMismatch {
            series: bad.name.clone(),
            expected,
            actual: bad.values.len(),
        });
    }
    Ok(())
}

fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, ChartError> {
    let encode_err = |e: png::EncodingError| ChartError::Encode(e.to_string());
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Balanced);
    let mut writer = encoder.write_header().map_err(encode_err)?;
    writer.write_image_data(rgb).map_err(encode_err)?;
    writer.finish().map_err(encode_err)?;
    Ok(out)
}
