//! Output: JSON for scripts, aligned plain-text tables for people. A table
//! is a view of the same JSON: each column names a field of the records'
//! JSON form, so `--json` and the table can never disagree.

use serde::Serialize;
use serde_json::Value;

/// Prints `value` as one line of JSON.
pub fn json<T: Serialize>(value: &T) {
    match serde_json::to_string(value) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("error: cannot render JSON: {e}"),
    }
}

/// Prints `items` as JSON, or as a table with one column per
/// `(header, field)`. A field may end in a format: `|%` a fraction as a
/// percentage, `|0` a number rounded, `|set` "yes" when present, `|up` a boolean as
/// up/down, `|counts` an object of counts as `name=count`, largest first. Missing
/// and null values show as "-", booleans as yes/no.
pub fn records<T: Serialize>(items: &[T], as_json: bool, columns: &[(&str, &str)]) {
    if as_json {
        json(&items);
        return;
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|item| {
            let value = serde_json::to_value(item).unwrap_or(Value::Null);
            columns
                .iter()
                .map(|(_, field)| cell(&value, field))
                .collect()
        })
        .collect();
    let headers: Vec<&str> = columns.iter().map(|(h, _)| *h).collect();
    table(&headers, &rows);
}

/// One record's cell for `field` (see [`records`]).
fn cell(record: &Value, field: &str) -> String {
    let (name, format) = field.split_once('|').unwrap_or((field, ""));
    let value = record.get(name).unwrap_or(&Value::Null);
    match (format, value) {
        ("set", v) => if v.is_null() { "no" } else { "yes" }.into(),
        ("up", v) => if v == &Value::Bool(true) {
            "up"
        } else {
            "down"
        }
        .into(),
        (_, Value::Null) => "-".into(),
        ("%", v) => format!("{:.1}%", v.as_f64().unwrap_or_default() * 100.0),
        // An object of counts: the largest first, `name=count`.
        ("counts", Value::Object(m)) if m.is_empty() => "-".into(),
        ("counts", Value::Object(m)) => {
            let mut pairs: Vec<(&String, u64)> = m
                .iter()
                .map(|(k, v)| (k, v.as_u64().unwrap_or(0)))
                .collect();
            pairs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            let parts: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            parts.join(" ")
        }
        ("0", v) => format!("{:.0}", v.as_f64().unwrap_or_default()),
        (_, Value::Bool(b)) => if *b { "yes" } else { "no" }.into(),
        (_, Value::String(s)) => s.clone(),
        (_, v) => v.to_string(),
    }
}

/// Prints an import's report (JSON, or its own text); exit code 3 when
/// `invalid` entries were refused.
pub fn report<T: Serialize + std::fmt::Display>(
    report: &T,
    as_json: bool,
    invalid: usize,
) -> std::process::ExitCode {
    if as_json {
        json(report);
    } else {
        println!("{report}");
    }
    if invalid > 0 {
        std::process::ExitCode::from(3)
    } else {
        std::process::ExitCode::SUCCESS
    }
}

/// Prints rows under headers with columns padded to their widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// `Some(x)` as text, `None` as "-".
pub fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn cells_follow_their_format() {
        let r = serde_json::json!({"n": 3, "f": 0.256, "ms": 12.6, "s": "x", "b": false, "z": null,
            "c": {"hedge_won": 1, "failover:proxy_reset": 4, "budget_expired": 1}, "e": {}});
        let cells: Vec<String> = [
            "n", "f|%", "ms|0", "s", "b", "z", "z|set", "s|set", "gone", "b|up", "c|counts",
            "e|counts",
        ]
        .iter()
        .map(|f| cell(&r, f))
        .collect();
        assert_eq!(
            cells,
            [
                "3",
                "25.6%",
                "13",
                "x",
                "no",
                "-",
                "no",
                "yes",
                "-",
                "down",
                "failover:proxy_reset=4 budget_expired=1 hedge_won=1",
                "-"
            ]
        );
    }
}
