//! How resources are shown. Each resource type has one function that turns it into a
//! [`Record`]; tables and JSON are both rendered from records, so they show the same keys.

use std::io::Write as _;

use serde_json::{Map, Value as Json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::duration;
use crate::error::CliError;

/// One resource as an ordered list of (key, value) fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Record {
    fields: Vec<Field>,
}

#[derive(Debug, Clone, PartialEq)]
struct Field {
    key: &'static str,
    value: Value,
    /// Shown for a single resource and in JSON, left out of list tables to keep them
    /// narrow enough to read.
    detail: bool,
}

/// A field's value, typed so that JSON keeps lists as arrays and flags as booleans.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Text(String),
    List(Vec<String>),
    Flag(bool),
    /// An unset optional field, such as a token that never expires.
    Unset,
}

impl Record {
    /// A field shown everywhere, list tables included.
    pub(crate) fn field(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        self.fields.push(Field {
            key,
            value: value.into(),
            detail: false,
        });
        self
    }

    /// A field shown for a single resource and in JSON, but not in list tables.
    pub(crate) fn detail(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        self.fields.push(Field {
            key,
            value: value.into(),
            detail: true,
        });
        self
    }

    fn to_json(&self) -> Json {
        let object: Map<String, Json> = self
            .fields
            .iter()
            .map(|f| (f.key.to_owned(), f.value.to_json()))
            .collect();
        Json::Object(object)
    }
}

impl Value {
    /// An RFC 3339 timestamp, or unset.
    pub(crate) fn time(timestamp: Option<&prost_types::Timestamp>) -> Value {
        let Some(timestamp) = timestamp else {
            return Value::Unset;
        };
        let nanos = i128::from(timestamp.seconds) * 1_000_000_000 + i128::from(timestamp.nanos);
        OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .map_or_else(
                || Value::Text(format!("{}s", timestamp.seconds)),
                Value::Text,
            )
    }

    /// A duration such as `10m`, or unset.
    pub(crate) fn duration(value: Option<&prost_types::Duration>) -> Value {
        value.map_or(Value::Unset, |d| Value::Text(duration::format(d)))
    }

    fn to_cell(&self) -> String {
        match self {
            Value::Text(text) if !text.is_empty() => text.clone(),
            Value::List(items) if !items.is_empty() => items.join(","),
            Value::Flag(flag) => flag.to_string(),
            _ => "-".to_owned(),
        }
    }

    fn to_json(&self) -> Json {
        match self {
            Value::Text(text) => Json::from(text.as_str()),
            Value::List(items) => Json::from(items.clone()),
            Value::Flag(flag) => Json::from(*flag),
            Value::Unset => Json::Null,
        }
    }
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Value::Text(text)
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Value::Text(text.to_owned())
    }
}

impl From<Vec<String>> for Value {
    fn from(items: Vec<String>) -> Self {
        Value::List(items)
    }
}

impl From<bool> for Value {
    fn from(flag: bool) -> Self {
        Value::Flag(flag)
    }
}

/// The lowercase name of a proto enum value: `ENVIRONMENT_POST_LOGOUT` with prefix
/// `ENVIRONMENT_` becomes `post_logout`. `None` (a number this client does not know) is
/// shown as the number itself.
pub(crate) fn enum_label(proto_name: Option<&str>, prefix: &str, number: i32) -> String {
    match proto_name {
        Some(name) => name
            .strip_prefix(prefix)
            .unwrap_or(name)
            .to_ascii_lowercase(),
        None => number.to_string(),
    }
}

/// Prints records as tables or, with `--json`, as JSON.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Printer {
    json: bool,
}

impl Printer {
    pub(crate) fn new(json: bool) -> Self {
        Printer { json }
    }

    /// One resource: a vertical key/value table or a JSON object.
    pub(crate) fn one(&self, record: &Record) -> Result<(), CliError> {
        if self.json {
            write_stdout(&format!("{:#}\n", record.to_json()))
        } else {
            write_stdout(&render_vertical(record))
        }
    }

    /// A list: a table with a header row or a JSON array. An empty list prints no table,
    /// only a note on stderr naming what was not found (`tenants`).
    pub(crate) fn many(&self, what: &str, records: &[Record]) -> Result<(), CliError> {
        if self.json {
            let array = Json::Array(records.iter().map(Record::to_json).collect());
            write_stdout(&format!("{array:#}\n"))
        } else if records.is_empty() {
            note(&format!("No {what}."));
            Ok(())
        } else {
            write_stdout(&render_table(records))
        }
    }

    /// A sentence for the person at the terminal, such as "Done." after a delete. JSON
    /// output stays silent, so scripts can read stdout.
    pub(crate) fn done(&self, message: &str) -> Result<(), CliError> {
        if self.json {
            Ok(())
        } else {
            write_stdout(&format!("{message}\n"))
        }
    }
}

/// A warning or hint on stderr, which never mixes with the JSON on stdout.
pub(crate) fn note(message: &str) {
    eprintln!("{message}");
}

fn write_stdout(text: &str) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// `key:  value` lines with the values aligned.
fn render_vertical(record: &Record) -> String {
    let width = record
        .fields
        .iter()
        .map(|f| f.key.len() + 1)
        .max()
        .unwrap_or(0);
    record
        .fields
        .iter()
        .map(|f| format!("{:<width$}  {}\n", format!("{}:", f.key), f.value.to_cell()))
        .collect()
}

/// A header row of the upper-cased keys, then one row per record, columns aligned and
/// separated by two spaces. Detail fields are left out. Every record has the same keys, as
/// they come from the same function.
fn render_table(records: &[Record]) -> String {
    let Some(first) = records.first() else {
        return String::new();
    };
    let header: Vec<String> = columns(first).map(|f| f.key.to_ascii_uppercase()).collect();
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| columns(r).map(|f| f.value.to_cell()).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    std::iter::once(&header)
        .chain(&rows)
        .map(|row| {
            let line: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            format!("{}\n", line.join("  ").trim_end())
        })
        .collect()
}

fn columns(record: &Record) -> impl Iterator<Item = &Field> {
    record.fields.iter().filter(|f| !f.detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(name: &str, display_name: &str, disabled: &[&str]) -> Record {
        Record::default()
            .field("name", name)
            .field("display_name", display_name)
            .field(
                "disabled_environments",
                disabled.iter().map(|e| (*e).to_owned()).collect::<Vec<_>>(),
            )
            .detail("etag", "W/1")
    }

    #[test]
    fn a_table_aligns_columns_under_an_upper_cased_header() {
        let table = render_table(&[
            tenant("tenants/acme", "Acme", &[]),
            tenant("tenants/globex-corp", "Globex", &["localhost", "staging"]),
        ]);
        assert_eq!(
            table,
            "NAME                 DISPLAY_NAME  DISABLED_ENVIRONMENTS\n\
             tenants/acme         Acme          -\n\
             tenants/globex-corp  Globex        localhost,staging\n"
        );
    }

    #[test]
    fn a_table_leaves_out_detail_fields_that_json_keeps() {
        let record = tenant("tenants/acme", "Acme", &[]);
        assert!(!render_table(std::slice::from_ref(&record)).contains("ETAG"));
        assert_eq!(record.to_json()["etag"], "W/1");
    }

    #[test]
    fn a_table_aligns_by_characters_not_bytes() {
        let table = render_table(&[
            tenant("tenants/zurich", "Zürich", &[]),
            tenant("tenants/b", "B", &[]),
        ]);
        assert_eq!(
            table,
            "NAME            DISPLAY_NAME  DISABLED_ENVIRONMENTS\n\
             tenants/zurich  Zürich        -\n\
             tenants/b       B             -\n"
        );
    }

    #[test]
    fn a_single_resource_is_a_vertical_table_with_every_field() {
        assert_eq!(
            render_vertical(&tenant("tenants/acme", "Acme", &["localhost"])),
            "name:                   tenants/acme\n\
             display_name:           Acme\n\
             disabled_environments:  localhost\n\
             etag:                   W/1\n"
        );
    }

    #[test]
    fn json_has_the_same_keys_with_typed_values() {
        let record = tenant("tenants/acme", "Acme", &["localhost"])
            .field("first_party", true)
            .field("expire_time", Value::Unset);
        // serde_json sorts keys unless its `preserve_order` feature is on, which would
        // change maps in every crate of the workspace; scripts do not mind the order.
        assert_eq!(
            record.to_json(),
            serde_json::json!({
                "name": "tenants/acme",
                "display_name": "Acme",
                "disabled_environments": ["localhost"],
                "etag": "W/1",
                "first_party": true,
                "expire_time": null,
            })
        );
    }

    #[test]
    fn timestamps_are_shown_as_rfc_3339_in_utc() {
        let shown = |seconds, nanos| Value::time(Some(&prost_types::Timestamp { seconds, nanos }));
        assert_eq!(
            shown(1_795_000_000, 0),
            Value::Text("2026-11-18T11:06:40Z".to_owned())
        );
        assert_eq!(
            shown(1_795_000_000, 250_000_000),
            Value::Text("2026-11-18T11:06:40.25Z".to_owned())
        );
        assert_eq!(Value::time(None), Value::Unset);
    }

    #[test]
    fn enum_values_are_shown_lowercase_without_their_prefix() {
        let label = enum_label(
            Some("REDIRECT_URI_PURPOSE_POST_LOGOUT"),
            "REDIRECT_URI_PURPOSE_",
            2,
        );
        assert_eq!(label, "post_logout");
        assert_eq!(enum_label(None, "ENVIRONMENT_", 9), "9");
    }
}
