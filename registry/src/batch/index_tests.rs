//! Tests of `index`: checkpoints agree with a naive split of the whole file, whatever the
//! chunk size and however the file is fed.

use super::*;

/// What the indexer must find, computed the obvious way from the whole file.
fn naive(file: &[u8], format: DataFormat, chunk_bytes: u64) -> (Vec<Checkpoint>, u64) {
    let mut starts = Vec::new();
    let mut offset = 0;
    for piece in file.split(|&b| b == b'\n') {
        if offset < file.len() {
            starts.push((offset as u64, !is_blank(piece)));
        }
        offset += piece.len() + 1;
    }
    if format == DataFormat::Csv {
        starts.remove(0);
    }
    let (mut checkpoints, mut rows, mut next) = (Vec::new(), 0, 0);
    for (start, has_content) in starts {
        if start >= next {
            checkpoints.push(Checkpoint {
                offset: start,
                first_row: rows + 1,
            });
            next = start + chunk_bytes;
        }
        rows += u64::from(has_content);
    }
    (checkpoints, rows)
}

fn index(file: &[u8], format: DataFormat, chunk_bytes: u64, slice: usize) -> RowIndex {
    let mut indexer = RowIndexer::new(format, chunk_bytes).unwrap();
    for piece in file.chunks(slice.max(1)) {
        indexer.feed(piece);
    }
    indexer.finish().unwrap()
}

fn csv_file(trailing_newline: bool) -> Vec<u8> {
    let mut text = String::from("id,a,b\r\n");
    for i in 1..=40 {
        match i % 9 {
            0 => text.push('\n'),
            4 => text.push_str(" \t\r\n"),
            _ => text.push_str(&format!("r{i},{},{}.5\r\n", i * 7, i)),
        }
    }
    text.push_str("last,1,2");
    if trailing_newline {
        text.push('\n');
    }
    text.into_bytes()
}

fn jsonl_file() -> Vec<u8> {
    let mut text = String::from("\n  \n");
    for i in 1..=30 {
        if i % 7 == 0 {
            text.push_str("\r\n");
        }
        text.push_str(&format!("{{\"a\": {i}, \"b\": {}}}\n", i * 3));
    }
    text.into_bytes()
}

#[test]
fn checkpoints_agree_with_a_naive_split_at_any_chunk_size_and_feed_size() {
    let files = [
        (csv_file(true), DataFormat::Csv),
        (csv_file(false), DataFormat::Csv),
        (jsonl_file(), DataFormat::Jsonl),
    ];
    for (file, format) in &files {
        for chunk_bytes in (1..40).chain([64, 100, 333, 1000, 100_000]) {
            let (checkpoints, rows) = naive(file, *format, chunk_bytes);
            for slice in [1, 2, 3, 7, 16, 64, file.len()] {
                let index = index(file, *format, chunk_bytes, slice);
                assert_eq!(
                    index.checkpoints, checkpoints,
                    "chunk {chunk_bytes}, slice {slice}"
                );
                assert_eq!(index.rows, rows);
                assert_eq!(index.bytes, file.len() as u64);
            }
        }
    }
}

#[test]
fn chunks_tile_the_data_and_count_their_rows() {
    let file = csv_file(false);
    let index = index(&file, DataFormat::Csv, 50, 13);
    let chunks: Vec<Chunk> = index.chunks().collect();
    assert_eq!(chunks[0].bytes.start, b"id,a,b\r\n".len() as u64);
    assert_eq!(chunks.last().unwrap().bytes.end, file.len() as u64);
    for pair in chunks.windows(2) {
        assert_eq!(pair[0].bytes.end, pair[1].bytes.start);
        assert_eq!(pair[0].first_row + pair[0].rows, pair[1].first_row);
    }
    let mut total = 0;
    for chunk in &chunks {
        let data = &file[chunk.bytes.start as usize..chunk.bytes.end as usize];
        assert_eq!(
            lines(data).filter(|l| !is_blank(l)).count() as u64,
            chunk.rows
        );
        total += chunk.rows;
    }
    assert_eq!(total, index.rows);
    // 40 lines, of which 4 empty and 5 blank, plus the last line.
    assert_eq!(index.rows, 40 - 4 - 5 + 1);
}

#[test]
fn columns_come_from_the_header_or_the_first_object() {
    let csv = index(&csv_file(true), DataFormat::Csv, 1 << 20, 5);
    assert_eq!(csv.columns, ["id", "a", "b"]);
    let jsonl = index(&jsonl_file(), DataFormat::Jsonl, 1 << 20, 5);
    assert_eq!(jsonl.columns, ["a", "b"]);
    assert_eq!(jsonl.rows, 30);
    assert_eq!(
        jsonl.checkpoints,
        [Checkpoint {
            offset: 0,
            first_row: 1
        }]
    );
    let header_only = index(b"x,y", DataFormat::Csv, 10, 1);
    assert_eq!((header_only.rows, header_only.checkpoints.len()), (0, 0));
    assert_eq!(header_only.chunks().count(), 0);
}

#[test]
fn files_without_columns_are_refused() {
    let finish = |file: &[u8], format| {
        let mut indexer = RowIndexer::new(format, 10).unwrap();
        indexer.feed(file);
        indexer.finish()
    };
    assert_eq!(finish(b"", DataFormat::Csv), Err(IndexError::Empty));
    assert_eq!(finish(b"\n \n", DataFormat::Jsonl), Err(IndexError::Empty));
    assert!(matches!(
        finish(b"\n1,2\n", DataFormat::Csv),
        Err(IndexError::FirstLine(_))
    ));
    assert!(matches!(
        finish(b"[1,2]\n", DataFormat::Jsonl),
        Err(IndexError::FirstLine(_))
    ));
    assert_eq!(
        RowIndexer::new(DataFormat::Parquet, 1).unwrap_err(),
        IndexError::NotText
    );
}
