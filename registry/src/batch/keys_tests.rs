//! Tests of `keys`: sidecars merged into one index, looked up by key.

use std::collections::HashMap;

use capstan_client::signature::ClassLabel;
use capstan_client::types::PredictedValue;

use super::*;

fn classes() -> Vec<ClassLabel> {
    vec![ClassLabel::Int(0), ClassLabel::Text("one".into())]
}

/// Scores `rows` keys into sidecars of `chunk` rows each; key `k{i % distinct}` for row i.
fn sidecars(rows: u64, chunk: u64, distinct: u64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut sink = KeySink::new(2);
    for row in 1..=rows {
        let p = (row as f64) / (rows as f64 + 1.0);
        let key = format!("k{}", row % distinct);
        sink.push(key.as_bytes(), row, (row % 2) as usize, &[p, 1.0 - p]);
        if row % chunk == 0 {
            out.push(sink.take_sidecar());
        }
    }
    if !sink.is_empty() {
        out.push(sink.take_sidecar());
    }
    out
}

fn merge(sidecars: &[Vec<u8>], rows: u64) -> (Vec<u8>, KeyIndexSummary) {
    let mut file = Vec::new();
    let summary = merge_key_sidecars(
        sidecars.iter().map(|s| s.as_slice()),
        &Predicts::Classes(classes()),
        rows,
        &mut file,
    )
    .unwrap();
    (file, summary)
}

#[test]
fn every_key_is_found_and_the_first_row_wins() {
    for (rows, chunk, distinct) in [
        (1, 1, 1),
        (10, 3, 10),
        (5_000, 700, 1_234),
        (100_000, 30_000, 100_000),
    ] {
        let side = sidecars(rows, chunk, distinct);
        let (file, summary) = merge(&side, rows);
        assert_eq!(summary.entries, distinct.min(rows), "{rows} rows");
        assert_eq!(summary.bytes, file.len() as u64);
        // The first row of key k{j} is row j (or `distinct` for j = 0).
        for j in (0..distinct.min(rows)).step_by((distinct / 97).max(1) as usize) {
            let first_row = if j == 0 { distinct } else { j };
            if first_row > rows {
                continue;
            }
            let found = KeyIndexFooter::lookup(&file, &format!("k{j}"))
                .unwrap()
                .unwrap();
            let p = (first_row as f64) / (rows as f64 + 1.0);
            assert_eq!(
                found.prediction,
                PredictedValue::Label(classes()[(first_row % 2) as usize].clone())
            );
            assert_eq!(
                found.probabilities,
                vec![(classes()[0].clone(), p), (classes()[1].clone(), 1.0 - p)]
            );
        }
        assert_eq!(KeyIndexFooter::lookup(&file, "absent").unwrap(), None);
        assert_eq!(
            KeyIndexFooter::lookup(&file, &format!("k{distinct}")).unwrap(),
            None
        );
    }
}

#[test]
fn duplicates_across_sidecars_keep_the_lowest_row() {
    let mut late = KeySink::new(2);
    late.push(b"dup", 90, 1, &[0.1, 0.9]);
    late.push(b"solo", 91, 0, &[0.8, 0.2]);
    let mut early = KeySink::new(2);
    early.push(b"dup", 7, 0, &[0.6, 0.4]);
    early.push(b"dup", 8, 1, &[0.3, 0.7]);
    // Sidecars are merged in any order: the row decides, not the sidecar.
    let (file, summary) = merge(&[late.take_sidecar(), early.take_sidecar()], 4);
    assert_eq!(summary.entries, 2);
    let dup = KeyIndexFooter::lookup(&file, "dup").unwrap().unwrap();
    assert_eq!(dup.prediction, PredictedValue::Label(ClassLabel::Int(0)));
    assert_eq!(dup.probabilities[0].1, 0.6);
    let solo = KeyIndexFooter::lookup(&file, "solo").unwrap().unwrap();
    assert_eq!(solo.probabilities[1].1, 0.2);
}

#[test]
fn pages_and_buckets_are_laid_out_as_documented() {
    // 200 000 rows → 8192 buckets → two pages.
    let side = sidecars(200_000, 50_000, 200_000);
    let (file, _) = merge(&side, 200_000);
    let len = file.len() as u64;
    let footer_len = KeyIndexFooter::footer_len(&file[file.len() - 16..]).unwrap();
    let footer = KeyIndexFooter::parse(&file[(len - footer_len) as usize..]).unwrap();
    assert_eq!(footer.bucket_bits, 13);
    assert_eq!(footer.page_tables.len(), 2);
    assert_eq!(footer.classes(), classes());
    // Every bucket's entries hash to that bucket, and buckets tile the data.
    let mut expected_start = 8;
    for bucket in 0..(1u64 << 13) {
        let page = (bucket / PAGE_BUCKETS) as usize;
        let at = (footer.page_tables[page] + 8 * (bucket % PAGE_BUCKETS)) as usize;
        let range = footer.bucket_range(&file[at..at + 16]).unwrap();
        if bucket % PAGE_BUCKETS == 0 && bucket > 0 {
            expected_start = footer.page_tables[page - 1] + 8 * (PAGE_BUCKETS + 1);
        }
        assert_eq!(range.start, expected_start, "bucket {bucket}");
        expected_start = range.end;
    }
    // Bucket sizes stay small: no bucket holds more than a few times 32 keys.
    let mut sizes: HashMap<u64, u64> = HashMap::new();
    for i in 0..200_000u64 {
        *sizes
            .entry(bucket_of(key_hash(format!("k{i}").as_bytes()), 13))
            .or_default() += 1;
    }
    assert!(
        sizes.values().all(|&n| n < 100),
        "{:?}",
        sizes.values().max()
    );
}

#[test]
fn an_empty_job_gives_an_index_without_keys() {
    let mut sink = KeySink::new(2);
    let (file, summary) = merge(&[sink.take_sidecar()], 0);
    assert_eq!(summary.entries, 0);
    assert_eq!(KeyIndexFooter::lookup(&file, "1").unwrap(), None);
}

#[test]
fn damaged_files_are_refused() {
    let (mut file, _) = merge(&sidecars(10, 10, 10), 10);
    let last = file.len() - 1;
    file[last] ^= 1;
    assert!(KeyIndexFooter::lookup(&file, "k1").is_err());
    let mut sidecar = sidecars(3, 3, 3).remove(0);
    sidecar[0] = b'X';
    let predicts = Predicts::Classes(classes());
    assert!(merge_key_sidecars([sidecar.as_slice()], &predicts, 3, Vec::new()).is_err());
    let wrong_classes = KeySink::new(3).take_sidecar();
    assert!(merge_key_sidecars([wrong_classes.as_slice()], &predicts, 3, Vec::new()).is_err());
    // A regressor's sidecar never merges into a classifier's index, nor the reverse.
    let values = KeySink::with_shape(EntryShape::Values(2)).take_sidecar();
    assert!(merge_key_sidecars([values.as_slice()], &predicts, 3, Vec::new()).is_err());
    let classes_sidecar = KeySink::new(2).take_sidecar();
    let regressor = Predicts::Values(2);
    assert!(merge_key_sidecars([classes_sidecar.as_slice()], &regressor, 3, Vec::new()).is_err());
}

#[test]
fn a_classifiers_index_is_laid_out_byte_for_byte_as_documented() {
    // One key, one bucket: the CAPKIX01 layout of the module doc, written out by hand.
    let mut sink = KeySink::new(2);
    sink.push(b"k", 1, 1, &[0.25, 0.75]);
    let (file, _) = merge(&[sink.take_sidecar()], 1);
    let mut expected = b"CAPKIX01".to_vec();
    expected.extend_from_slice(&1u32.to_le_bytes());
    expected.extend_from_slice(b"k");
    expected.extend_from_slice(&1u32.to_le_bytes());
    expected.extend_from_slice(&0.25f64.to_le_bytes());
    expected.extend_from_slice(&0.75f64.to_le_bytes());
    let table = expected.len() as u64;
    expected.extend_from_slice(&8u64.to_le_bytes());
    expected.extend_from_slice(&table.to_le_bytes());
    let classes = br#"[0,"one"]"#;
    let footer_start = expected.len();
    expected.extend_from_slice(&0u32.to_le_bytes());
    expected.extend_from_slice(&1u32.to_le_bytes());
    expected.extend_from_slice(&1u64.to_le_bytes());
    expected.extend_from_slice(&(classes.len() as u32).to_le_bytes());
    expected.extend_from_slice(&table.to_le_bytes());
    expected.extend_from_slice(classes);
    let footer_len = (expected.len() - footer_start) as u64 + 16;
    expected.extend_from_slice(&footer_len.to_le_bytes());
    expected.extend_from_slice(b"CAPKIX01");
    assert_eq!(file, expected);
}

/// A regressor's sidecars: `rows` rows, row r under key `v{r}` with values `r + t / 10`.
fn value_sidecars(rows: u64, chunk: u64, targets: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut sink = KeySink::with_shape(EntryShape::Values(targets));
    for row in 1..=rows {
        let values: Vec<f64> = (0..targets).map(|t| row as f64 + t as f64 / 10.0).collect();
        sink.push_values(format!("v{row}").as_bytes(), row, &values);
        if row % chunk == 0 {
            out.push(sink.take_sidecar());
        }
    }
    if !sink.is_empty() {
        out.push(sink.take_sidecar());
    }
    out
}

#[test]
fn a_regressors_index_serves_its_values_under_its_own_magic() {
    for targets in [1, 3] {
        let side = value_sidecars(5_000, 700, targets);
        let mut file = Vec::new();
        let predicts = Predicts::Values(targets);
        let summary =
            merge_key_sidecars(side.iter().map(Vec::as_slice), &predicts, 5_000, &mut file)
                .unwrap();
        assert_eq!(summary.entries, 5_000);
        assert_eq!(summary.bytes, file.len() as u64);
        assert_eq!(&file[..8], b"CAPKIX02");
        assert_eq!(&file[file.len() - 8..], b"CAPKIX02");
        let len = file.len() as u64;
        let footer_len = KeyIndexFooter::footer_len(&file[file.len() - 16..]).unwrap();
        let footer = KeyIndexFooter::parse(&file[(len - footer_len) as usize..]).unwrap();
        assert_eq!(footer.predicts(), &predicts);
        assert!(footer.classes().is_empty());
        for row in (1..=5_000u64).step_by(37) {
            let found = KeyIndexFooter::lookup(&file, &format!("v{row}"))
                .unwrap()
                .unwrap();
            let expected = match targets {
                1 => PredictedValue::Value(row as f64),
                _ => PredictedValue::Targets(vec![row as f64, row as f64 + 0.1, row as f64 + 0.2]),
            };
            assert_eq!(found.prediction, expected);
            assert!(found.probabilities.is_empty());
        }
        assert_eq!(KeyIndexFooter::lookup(&file, "v0").unwrap(), None);
    }
}

#[test]
fn the_hash_is_stable() {
    // Part of the file format: these values must never change.
    let pinned = [key_hash(b""), key_hash(b"1"), key_hash(b"customer-42")];
    assert_eq!(pinned, PINNED_HASHES);
}

const PINNED_HASHES: [u64; 3] = [
    0xefd0_1f60_ba99_2926,
    0x7c38_32dd_e020_d3d6,
    0xe5c7_993d_f9de_03b9,
];
