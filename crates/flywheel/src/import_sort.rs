//! `flywheel import --sort`: the file's records in `occurred_at` order (ties in line
//! order), so a history exported in any order replays at its own time. Records are
//! sorted in memory a run at a time; a file with more than one run's records spills each
//! sorted run to a temporary file and merges them, so memory stays bounded whatever the
//! file's size. Line numbers stay those of the file, for the import's rejections.

use crate::import::Record;
use flywheel_core::time::{Micros, parse_rfc3339};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{BufRead, BufReader, BufWriter, Write};

/// A record as sorted: its time (records without a readable one first: they will be
/// rejected anyway), its line, and the record or why it is not one.
#[derive(Serialize, Deserialize)]
struct Keyed {
    at: Micros,
    line: u64,
    record: Result<Value, String>,
}

impl Keyed {
    fn of((line, record): Record) -> Keyed {
        let at = record
            .as_ref()
            .ok()
            .and_then(|v| v.get("occurred_at")?.as_str())
            .and_then(parse_rfc3339)
            .unwrap_or(Micros::MIN);
        Keyed { at, line, record }
    }

    fn key(&self) -> (Micros, u64) {
        (self.at, self.line)
    }
}

/// Records per sorted run (about a few hundred MB of events in memory).
pub const RUN: usize = 500_000;

/// `records` in time order; runs of `run` records beyond the first spill to disk.
pub fn sorted(
    records: impl Iterator<Item = Record>,
    run: usize,
) -> anyhow::Result<Box<dyn Iterator<Item = Record> + Send>> {
    let mut runs: Vec<tempfile::NamedTempFile> = Vec::new();
    let mut current: Vec<Keyed> = Vec::new();
    for record in records {
        current.push(Keyed::of(record));
        if current.len() >= run {
            runs.push(spill(&mut current)?);
        }
    }
    current.sort_by_key(Keyed::key);
    if runs.is_empty() {
        return Ok(Box::new(current.into_iter().map(|k| (k.line, k.record))));
    }
    if !current.is_empty() {
        runs.push(spill(&mut current)?);
    }
    Ok(Box::new(Merge::new(runs)?))
}

/// Sorts `records` and writes them to a temporary file, one JSON line each.
fn spill(records: &mut Vec<Keyed>) -> anyhow::Result<tempfile::NamedTempFile> {
    records.sort_by_key(Keyed::key);
    let file = tempfile::NamedTempFile::new()?;
    let mut out = BufWriter::new(file.reopen()?);
    for k in records.drain(..) {
        serde_json::to_writer(&mut out, &k)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(file)
}

/// A k-way merge of sorted runs on disk.
struct Merge {
    /// The runs' readers (the files are deleted when the merge is dropped).
    readers: Vec<std::io::Lines<BufReader<std::fs::File>>>,
    _files: Vec<tempfile::NamedTempFile>,
    /// The head of each run: its key and its index; the smallest first.
    heads: BinaryHeap<Reverse<((Micros, u64), usize)>>,
    pending: Vec<Option<Keyed>>,
}

impl Merge {
    fn new(files: Vec<tempfile::NamedTempFile>) -> anyhow::Result<Merge> {
        let mut merge = Merge {
            readers: Vec::with_capacity(files.len()),
            pending: Vec::with_capacity(files.len()),
            heads: BinaryHeap::new(),
            _files: Vec::new(),
        };
        for file in &files {
            merge
                .readers
                .push(BufReader::with_capacity(1 << 16, file.reopen()?).lines());
            merge.pending.push(None);
        }
        merge._files = files;
        for i in 0..merge.readers.len() {
            merge.advance(i);
        }
        Ok(merge)
    }

    /// Reads run `i`'s next record into its slot and the heap.
    fn advance(&mut self, i: usize) {
        let next = self.readers[i]
            .next()
            .and_then(|line| line.ok())
            .and_then(|line| serde_json::from_str::<Keyed>(&line).ok());
        if let Some(k) = &next {
            self.heads.push(Reverse((k.key(), i)));
        }
        self.pending[i] = next;
    }
}

impl Iterator for Merge {
    type Item = Record;

    fn next(&mut self) -> Option<Self::Item> {
        let Reverse((_, i)) = self.heads.pop()?;
        let k = self.pending[i].take()?;
        self.advance(i);
        Some((k.line, k.record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(line: u64, t: &str) -> Record {
        (line, Ok(json!({"occurred_at": t, "n": line})))
    }

    #[test]
    fn records_come_out_in_time_order_in_memory_and_through_spilled_runs() {
        let records = vec![
            at(1, "2026-03-02T00:00:00Z"),
            at(2, "2026-01-05T00:00:00+08:00"),
            (3, Err("not valid JSON".to_owned())),
            at(4, "2026-03-02T00:00:00Z"),
            at(5, "2025-12-31T23:00:00Z"),
            at(6, "2026-02-01T00:00:00Z"),
            at(7, "2026-01-04T16:00:00Z"),
        ];
        let expected = vec![3, 5, 2, 7, 6, 1, 4];
        for run in [1000, 2, 1] {
            let lines: Vec<u64> = sorted(records.clone().into_iter(), run)
                .unwrap()
                .map(|(line, _)| line)
                .collect();
            // 2 and 7 are the same instant: file order breaks the tie.
            assert_eq!(lines, expected, "runs of {run}");
        }
    }
}
