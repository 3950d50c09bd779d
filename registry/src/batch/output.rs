//! Output rows of a batch job in CSV or JSONL: the id (under its input name, or `row`,
//! the 1-based row number, when there is no id column), then for a classifier
//! `prediction` (the label) and one `p_<class>` per class in the predictor's class order,
//! for a regressor `prediction` (its value) or, for a model of k > 1 targets,
//! `prediction_0` … `prediction_{k-1}`; last the model `version`.
//!
//! Labels are written as the JSON predict endpoint writes them (`1`, not `1.0`; text
//! labels as text) and probabilities and values in the shortest form that reads back to
//! the same `f64`, printed by `serde_json` itself so they are byte for byte what JSON
//! predict answers (`ryu` would differ: it writes `1e16` where `serde_json` writes `1e+16`, since
//! serde_json prints floats with `zmij`). Ids from CSV are text (CSV has
//! no types), so JSONL output writes them as JSON strings; ids from JSONL keep their JSON
//! type. Parquet output is in `parquet.rs`. This module only formats bytes.

use capstan_client::signature::ClassLabel;
use capstan_client::types::batch::DataFormat;

use super::columns::ColumnPlan;
use super::values::Predicts;

/// The name of the output's row-number column when the input has no id column.
pub const ROW_COLUMN: &str = "row";

/// A row's id as the output writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputId<'a> {
    /// No id column: the 1-based data row number.
    Row(u64),
    /// Text (every CSV id; a JSON string id).
    Text(&'a str),
    /// A JSON number id, as JSON text (`17`, `2.5`).
    Number(&'a str),
}

impl OutputId<'_> {
    /// The key a prediction is looked up by: the id's text, or the row number.
    pub fn key<'b>(&'b self, buffer: &'b mut itoa::Buffer) -> &'b str {
        match self {
            OutputId::Row(row) => buffer.format(*row),
            OutputId::Text(text) | OutputId::Number(text) => text,
        }
    }
}

/// The output's column names, in order.
pub fn output_columns(plan: &ColumnPlan, predicts: &Predicts) -> Vec<String> {
    let id = plan.id.as_ref().map_or(ROW_COLUMN, |id| id.name.as_str());
    let mut columns = vec![id.to_string()];
    match predicts {
        Predicts::Classes(classes) => {
            columns.push("prediction".to_string());
            columns.extend(classes.iter().map(probability_column));
        }
        Predicts::Values(targets) => columns.extend(value_columns(*targets)),
    }
    columns.push("version".to_string());
    columns
}

/// A regressor's value columns: `prediction`, or `prediction_<k>` per target.
pub fn value_columns(targets: usize) -> Vec<String> {
    if targets == 1 {
        return vec!["prediction".to_string()];
    }
    (0..targets).map(|k| format!("prediction_{k}")).collect()
}

/// `p_<class>`: the column of a class's probability.
pub fn probability_column(class: &ClassLabel) -> String {
    format!("p_{class}")
}

/// Writes what comes before the rows: a CSV header line; nothing for JSONL or Parquet.
pub fn write_header(output: DataFormat, plan: &ColumnPlan, predicts: &Predicts, out: &mut Vec<u8>) {
    if output != DataFormat::Csv {
        return;
    }
    for (index, column) in output_columns(plan, predicts).iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_csv_field(out, column);
    }
    out.push(b'\n');
}

/// Everything of a CSV or JSONL row that is the same on every row, prepared once per job.
#[derive(Debug)]
pub struct TextRows {
    format: DataFormat,
    /// JSONL: `{"<id name>":`.
    open: Vec<u8>,
    /// The label of each class, as CSV or JSON text.
    labels: Vec<Vec<u8>>,
    /// Before each probability: `,` (CSV) or `,"p_<class>":` (JSONL).
    before_probability: Vec<Vec<u8>>,
    /// A regressor's: before each value, `,` (CSV) or `,"prediction…":` (JSONL).
    before_values: Vec<Vec<u8>>,
    /// `,<version>\n` (CSV) or `,"version":<version>}\n` (JSONL).
    close: Vec<u8>,
}

impl TextRows {
    /// `None` for Parquet, which is not written row by row.
    pub fn new(
        format: DataFormat,
        plan: &ColumnPlan,
        predicts: &Predicts,
        version: i64,
    ) -> Option<Self> {
        let id_name = plan.id.as_ref().map_or(ROW_COLUMN, |id| id.name.as_str());
        let classes = predicts.classes();
        let value_columns = match predicts {
            Predicts::Values(targets) => value_columns(*targets),
            Predicts::Classes(_) => Vec::new(),
        };
        match format {
            DataFormat::Csv => Some(TextRows {
                format,
                open: Vec::new(),
                labels: classes
                    .iter()
                    .map(|class| {
                        let mut text = Vec::new();
                        write_csv_field(&mut text, &class.to_string());
                        text
                    })
                    .collect(),
                before_probability: vec![b",".to_vec(); classes.len()],
                before_values: vec![b",".to_vec(); value_columns.len()],
                close: format!(",{version}\n").into_bytes(),
            }),
            DataFormat::Jsonl => Some(TextRows {
                format,
                open: format!("{{{}:", json_string(id_name)).into_bytes(),
                labels: classes.iter().map(json_label).collect(),
                before_probability: classes
                    .iter()
                    .map(|class| format!(",{}:", json_string(&probability_column(class))))
                    .map(String::into_bytes)
                    .collect(),
                before_values: value_columns
                    .iter()
                    .map(|column| format!(",{}:", json_string(column)).into_bytes())
                    .collect(),
                close: format!(",\"version\":{version}}}\n").into_bytes(),
            }),
            DataFormat::Parquet => None,
        }
    }

    /// Appends one row of a classifier: `class` is the index of the predicted class.
    pub fn write_row(
        &self,
        out: &mut Vec<u8>,
        id: OutputId<'_>,
        class: usize,
        probabilities: &[f64],
    ) {
        self.write_id(out, id);
        let before_prediction: &[u8] = match self.format {
            DataFormat::Jsonl => b",\"prediction\":",
            _ => b",",
        };
        match before_prediction {
            [byte] => out.push(*byte),
            _ => out.extend_from_slice(before_prediction),
        }
        out.extend_from_slice(&self.labels[class]);
        for (before, probability) in self.before_probability.iter().zip(probabilities) {
            match before.as_slice() {
                [byte] => out.push(*byte),
                _ => out.extend_from_slice(before),
            }
            write_f64(out, *probability);
        }
        out.extend_from_slice(&self.close);
    }

    /// Appends one row of a regressor: one value per target.
    pub fn write_values(&self, out: &mut Vec<u8>, id: OutputId<'_>, values: &[f64]) {
        self.write_id(out, id);
        for (before, value) in self.before_values.iter().zip(values) {
            out.extend_from_slice(before);
            write_f64(out, *value);
        }
        out.extend_from_slice(&self.close);
    }

    /// The start of a row: `{"<id name>":` (JSONL) and the id.
    #[inline]
    fn write_id(&self, out: &mut Vec<u8>, id: OutputId<'_>) {
        if !self.open.is_empty() {
            out.extend_from_slice(&self.open);
        }
        match (self.format, id) {
            (_, OutputId::Row(row)) => {
                out.extend_from_slice(itoa::Buffer::new().format(row).as_bytes())
            }
            (DataFormat::Jsonl, OutputId::Number(text)) => out.extend_from_slice(text.as_bytes()),
            (DataFormat::Jsonl, OutputId::Text(text)) => write_json_string(out, text),
            (_, OutputId::Text(text) | OutputId::Number(text)) => write_csv_field(out, text),
        }
    }
}

/// An `f64` exactly as `serde_json` (so the JSON predict endpoint) writes it: the
/// shortest text that reads back to the same value (`null` if it is not finite).
pub(super) fn write_f64(out: &mut Vec<u8>, value: f64) {
    // Serialising a number into a `Vec` cannot fail.
    let _ = serde_json::to_writer(out, &value);
}

/// A class label as the JSON predict endpoint writes it (`1`, `"malignant"`).
fn json_label(class: &ClassLabel) -> Vec<u8> {
    match class {
        ClassLabel::Int(number) => number.to_string().into_bytes(),
        ClassLabel::Text(text) => json_string(text).into_bytes(),
    }
}

fn json_string(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len() + 2);
    write_json_string(&mut out, text);
    String::from_utf8(out).unwrap_or_default()
}

/// A JSON string literal; text without quotes, backslashes or control characters is
/// copied as it is, anything else goes through `serde_json`.
fn write_json_string(out: &mut Vec<u8>, text: &str) {
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else if serde_json::to_writer(&mut *out, text).is_err() {
        // Writing a `&str` into a `Vec` cannot fail; keep the output valid regardless.
        out.extend_from_slice(b"\"\"");
    }
}

/// A CSV field, quoted when it holds a comma, a quote, a line break or outer blanks.
fn write_csv_field(out: &mut Vec<u8>, text: &str) {
    let needs_quotes = text
        .bytes()
        .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
        || text.starts_with([' ', '\t'])
        || text.ends_with([' ', '\t']);
    if !needs_quotes {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    out.push(b'"');
    for byte in text.bytes() {
        if byte == b'"' {
            out.push(b'"');
        }
        out.push(byte);
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::columns::{IdColumn, Matching};

    fn plan(id: Option<&str>) -> ColumnPlan {
        ColumnPlan {
            matching: Matching::ByName,
            features: vec!["a".into()],
            feature_columns: vec![1],
            columns: vec!["key".into(), "a".into()],
            id: id.map(|name| IdColumn {
                index: 0,
                name: name.into(),
            }),
        }
    }

    fn row(
        format: DataFormat,
        id: Option<&str>,
        out_id: OutputId<'_>,
        classes: &[ClassLabel],
    ) -> String {
        let predicts = Predicts::Classes(classes.to_vec());
        let rows = TextRows::new(format, &plan(id), &predicts, 3).unwrap();
        let mut out = Vec::new();
        rows.write_row(&mut out, out_id, 1, &[0.25, 0.75]);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn csv_rows_carry_id_label_probabilities_and_version() {
        let classes = [ClassLabel::Int(0), ClassLabel::Int(1)];
        let mut header = Vec::new();
        let predicts = Predicts::Classes(classes.to_vec());
        write_header(DataFormat::Csv, &plan(Some("key")), &predicts, &mut header);
        assert_eq!(header, b"key,prediction,p_0,p_1,version\n");
        assert_eq!(
            row(
                DataFormat::Csv,
                Some("key"),
                OutputId::Text("a,\"b\""),
                &classes
            ),
            "\"a,\"\"b\"\"\",1,0.25,0.75,3\n"
        );
        assert_eq!(
            row(DataFormat::Csv, None, OutputId::Row(12), &classes),
            "12,1,0.25,0.75,3\n"
        );
        let mut header = Vec::new();
        write_header(DataFormat::Csv, &plan(None), &predicts, &mut header);
        assert_eq!(header, b"row,prediction,p_0,p_1,version\n");
    }

    #[test]
    fn jsonl_rows_keep_the_id_type_and_write_labels_like_predict() {
        let text = [
            ClassLabel::Text("benign".into()),
            ClassLabel::Text("mal \"x\"".into()),
        ];
        let line = row(
            DataFormat::Jsonl,
            Some("key"),
            OutputId::Number("17"),
            &text,
        );
        assert_eq!(
            line,
            "{\"key\":17,\"prediction\":\"mal \\\"x\\\"\",\"p_benign\":0.25,\"p_mal \\\"x\\\"\":0.75,\"version\":3}\n"
        );
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["prediction"], serde_json::to_value(&text[1]).unwrap());
        let ints = [ClassLabel::Int(0), ClassLabel::Int(1)];
        let line = row(
            DataFormat::Jsonl,
            Some("key"),
            OutputId::Text("a\nb"),
            &ints,
        );
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["key"], "a\nb");
        assert_eq!(value["prediction"], 1);
        let line = row(DataFormat::Jsonl, None, OutputId::Row(5), &ints);
        assert!(line.starts_with("{\"row\":5,\"prediction\":1,"), "{line}");
        let mut header = Vec::new();
        let predicts = Predicts::Classes(ints.to_vec());
        write_header(DataFormat::Jsonl, &plan(None), &predicts, &mut header);
        assert!(header.is_empty());
    }

    #[test]
    fn probabilities_are_written_as_serde_json_writes_them() {
        let values = [
            0.0,
            1.0,
            0.1,
            1.0 / 3.0,
            1e-7,
            2.5e-300,
            f64::MIN_POSITIVE,
            5e-324,
            1e15,
            1e16,
            1e21,
            1.7976931348623157e308,
            0.9999999999999999,
            123456.789,
        ];
        let classes = [ClassLabel::Int(0), ClassLabel::Int(1)];
        let predicts = Predicts::Classes(classes.to_vec());
        let rows = TextRows::new(DataFormat::Csv, &plan(None), &predicts, 1).unwrap();
        for value in values {
            let mut out = Vec::new();
            rows.write_row(&mut out, OutputId::Row(1), 0, &[value, -value]);
            let line = String::from_utf8(out).unwrap();
            let fields: Vec<&str> = line.trim_end().split(',').collect();
            assert_eq!(
                fields[2],
                serde_json::to_string(&value).unwrap(),
                "{value:e}"
            );
            assert_eq!(fields[3], serde_json::to_string(&-value).unwrap());
            assert_eq!(fields[2].parse::<f64>().unwrap().to_bits(), value.to_bits());
            assert_eq!(
                fields[3].parse::<f64>().unwrap().to_bits(),
                (-value).to_bits()
            );
        }
        // What serde_json writes today, pinned: a change here changes every output file.
        assert_eq!(serde_json::to_string(&1e16).unwrap(), "1e+16");
        assert_eq!(serde_json::to_string(&1e-7).unwrap(), "1e-7");
        assert_eq!(serde_json::to_string(&0.1).unwrap(), "0.1");
    }

    #[test]
    fn a_regressors_rows_carry_its_values_under_prediction_columns() {
        let one = Predicts::Values(1);
        let mut header = Vec::new();
        write_header(DataFormat::Csv, &plan(Some("key")), &one, &mut header);
        assert_eq!(header, b"key,prediction,version\n");
        let rows = TextRows::new(DataFormat::Csv, &plan(Some("key")), &one, 3).unwrap();
        let mut out = Vec::new();
        rows.write_values(&mut out, OutputId::Text("k"), &[1e16]);
        assert_eq!(out, b"k,1e+16,3\n");
        let rows = TextRows::new(DataFormat::Jsonl, &plan(None), &one, 3).unwrap();
        let mut out = Vec::new();
        rows.write_values(&mut out, OutputId::Row(4), &[-0.5]);
        assert_eq!(out, b"{\"row\":4,\"prediction\":-0.5,\"version\":3}\n");

        let three = Predicts::Values(3);
        let mut header = Vec::new();
        write_header(DataFormat::Csv, &plan(None), &three, &mut header);
        assert_eq!(
            header,
            b"row,prediction_0,prediction_1,prediction_2,version\n"
        );
        let rows = TextRows::new(DataFormat::Jsonl, &plan(Some("key")), &three, 2).unwrap();
        let mut out = Vec::new();
        rows.write_values(&mut out, OutputId::Number("7"), &[1.0, 0.1, 2.5]);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"key\":7,\"prediction_0\":1.0,\"prediction_1\":0.1,\"prediction_2\":2.5,\"version\":2}\n"
        );
    }

    #[test]
    fn row_keys_are_the_id_text_or_the_row_number() {
        let mut buffer = itoa::Buffer::new();
        assert_eq!(OutputId::Row(42).key(&mut buffer), "42");
        assert_eq!(OutputId::Number("2.5").key(&mut buffer), "2.5");
        assert_eq!(OutputId::Text("x").key(&mut buffer), "x");
    }
}
