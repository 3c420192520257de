//! `flywheel import FILE`: streams events from JSON Lines or CSV into the database in
//! batches, with a progress bar, and ends with a summary: accepted, duplicates, and
//! every rejected line with its number and reason. `--strict` stops at the first bad
//! line (everything before it is kept).
//!
//! CSV files have a header row. Columns `event_id`, `type`, `occurred_at`, `channel`;
//! identities either as JSON in an `identities` column or one `identities.<kind>` column
//! per kind; properties likewise (`properties` as JSON, or `properties.<key>` columns,
//! where `rating` and `followers` are read as integers and `items` as JSON).

use crate::config::{Config, Overrides};
use anyhow::{Context, bail};
use flywheel_core::{Event, parse_event};
use flywheel_store::{AsOf, EventResult, IngestMode, Store};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Jsonl,
    Csv,
}

#[derive(clap::Args)]
pub struct ImportArgs {
    /// The file to import.
    file: PathBuf,
    /// jsonl or csv (default: from the file's extension, else jsonl).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Stop at the first bad line.
    #[arg(long)]
    strict: bool,
    #[arg(long)]
    db: Option<String>,
    /// Events per transaction.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    batch_size: u32,
    /// Judge stages, windows and points at this instant (RFC 3339) instead of now, so the
    /// same file imported twice gives the same database.
    #[arg(long, value_parser = parse_instant)]
    as_of: Option<i64>,
    /// The file holds tags, not events: CSV with a header `kind,value,tag` (an identity
    /// kind, its value, the tag to set). Each tag is recorded as set by this import.
    #[arg(long)]
    tags: bool,
}

fn parse_instant(text: &str) -> Result<i64, String> {
    flywheel_core::time::parse_rfc3339(text)
        .ok_or_else(|| format!("{text:?} is not an RFC 3339 timestamp with an offset"))
}

/// How a file is imported.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Stop at the first bad line.
    pub strict: bool,
    /// Events per transaction.
    pub batch_size: usize,
    /// The instant stages and points are judged at; `None`: the present.
    pub as_of: Option<i64>,
}

impl Options {
    fn now(&self) -> i64 {
        self.as_of
            .unwrap_or_else(|| chrono::Utc::now().timestamp_micros())
    }
}

/// What happened to the lines of a file.
#[derive(Debug, Default)]
pub struct Summary {
    pub accepted: u64,
    pub duplicates: u64,
    /// Line number and reason.
    pub rejected: Vec<(u64, String)>,
    pub stopped_early: bool,
}

pub async fn run(file: Option<&Path>, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(
        file,
        &Overrides {
            db: args.db.clone(),
            listen: None,
        },
    )?;
    let store = crate::open::open_for_ingest(&config, config.server.write_behind).await?;
    if args.tags {
        return crate::import_tags::run(&store, &config, &args.file, args.as_of).await;
    }
    let format =
        args.format
            .unwrap_or_else(|| match args.file.extension().and_then(|e| e.to_str()) {
                Some("csv") => Format::Csv,
                _ => Format::Jsonl,
            });
    let handle = std::fs::File::open(&args.file)
        .with_context(|| format!("opening {}", args.file.display()))?;
    let size = handle.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = ProgressBar::new(size);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({eta}) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let reader = bar.wrap_read(handle);
    let summary = import(
        &store,
        &config,
        reader,
        format,
        Options {
            strict: args.strict,
            batch_size: args.batch_size as usize,
            as_of: args.as_of,
        },
        |s| {
            bar.set_message(format!(
                "{} accepted, {} duplicates, {} rejected",
                s.accepted,
                s.duplicates,
                s.rejected.len()
            ));
        },
    )
    .await?;
    // Rows still waiting behind the event log are written before the import reports.
    store.settle().await?;
    // Closing checkpoints SQLite's log into the database file: part of the import's time.
    store.close().await;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let total = summary.accepted + summary.duplicates;
    println!(
        "{}: {} accepted, {} duplicates, {} rejected in {:.1} s ({:.0} events/s)",
        args.file.display(),
        summary.accepted,
        summary.duplicates,
        summary.rejected.len(),
        secs,
        total as f64 / secs.max(1e-9)
    );
    for (line, reason) in summary.rejected.iter().take(100) {
        println!("  line {line}: {reason}");
    }
    if summary.rejected.len() > 100 {
        println!(
            "  … and {} more rejected lines",
            summary.rejected.len() - 100
        );
    }
    if summary.stopped_early {
        println!("stopped at the first bad line (--strict); lines before it were imported");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// A line's number and its event, or the reason it is not one.
type Parsed = (u64, Result<Event, String>);

/// The events of the batch being gathered and the line each came from, side by side so
/// the events go to the store as they are, without a copy.
#[derive(Default)]
struct Pending {
    lines: Vec<u64>,
    events: Vec<Event>,
}

impl Pending {
    fn push(&mut self, line: u64, event: Event) {
        self.lines.push(line);
        self.events.push(event);
    }

    fn clear(&mut self) {
        self.lines.clear();
        self.events.clear();
    }
}

/// Imports everything `reader` holds; `progress` is called after each batch.
///
/// Lines are read and parsed on a thread of their own, a batch ahead of the database:
/// parsing (JSON, validation, phone numbers) is about a tenth of the work, and this way
/// it runs beside the batch being written instead of between batches.
pub async fn import(
    store: &Store,
    config: &Config,
    reader: impl Read + Send + 'static,
    format: Format,
    options: Options,
    mut progress: impl FnMut(&Summary),
) -> anyhow::Result<Summary> {
    let Options {
        strict, batch_size, ..
    } = options;
    let now = options.now();
    let records = records(reader, format)?;
    let policy = config.policy.clone();
    // One parsed batch waiting while one is written bounds the memory held ahead.
    let (parsed_tx, mut parsed_rx) = tokio::sync::mpsc::channel::<Vec<Parsed>>(1);
    let parser = std::thread::spawn(move || {
        let ctx = policy.parse_context(now);
        let mut chunk: Vec<Parsed> = Vec::with_capacity(batch_size);
        for (line, record) in records {
            chunk.push((line, record.and_then(|value| parse_line(&value, &ctx))));
            // A send fails only when the import stopped early and nobody is listening.
            if chunk.len() >= batch_size
                && parsed_tx.blocking_send(std::mem::take(&mut chunk)).is_err()
            {
                return;
            }
        }
        let _ = parsed_tx.blocking_send(chunk);
    });
    let mut summary = Summary::default();
    let mut batch = Pending::default();
    while let Some(chunk) = parsed_rx.recv().await {
        for (line, parsed) in chunk {
            match parsed {
                Ok(event) => batch.push(line, event),
                Err(reason) => {
                    summary.rejected.push((line, reason));
                    if strict {
                        flush(store, config, &mut batch, options, &mut summary).await?;
                        summary.stopped_early = true;
                        return Ok(summary);
                    }
                }
            }
            if batch.events.len() >= batch_size {
                flush(store, config, &mut batch, options, &mut summary).await?;
                progress(&summary);
                if summary.stopped_early {
                    return Ok(summary);
                }
            }
        }
    }
    // The channel also closes if the parser panicked: that must not read as the end of
    // the file.
    if parser.join().is_err() {
        bail!("reading the file failed unexpectedly; events up to here were imported");
    }
    flush(store, config, &mut batch, options, &mut summary).await?;
    progress(&summary);
    Ok(summary)
}

fn parse_line(
    value: &Value,
    ctx: &flywheel_core::event::ParseContext<'_>,
) -> Result<Event, String> {
    parse_event(value, ctx).map_err(|errors| {
        errors
            .iter()
            .map(|e| format!("{}: {} ({})", e.field, e.message, e.code))
            .collect::<Vec<_>>()
            .join("; ")
    })
}

async fn flush(
    store: &Store,
    config: &Config,
    batch: &mut Pending,
    options: Options,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    if batch.events.is_empty() {
        return Ok(());
    }
    let strict = options.strict;
    let now = options.now();
    let events = &batch.events;
    let mode = if strict {
        IngestMode::AllOrNothing
    } else {
        IngestMode::SkipRejected
    };
    let rules = config.policy.rules();
    let mut results = store.ingest(events, &rules, AsOf::At(now), mode).await?;
    if strict {
        let first_bad = results
            .iter()
            .position(|r| matches!(r, EventResult::Rejected(r) if r.code != flywheel_core::ErrorCode::BatchRejected));
        if let Some(bad) = first_bad {
            // Keep what came before the bad line, then stop.
            let EventResult::Rejected(r) = &results[bad] else {
                unreachable!()
            };
            let reason = format!(
                "{}{} ({})",
                r.field
                    .as_ref()
                    .map(|f| format!("{f}: "))
                    .unwrap_or_default(),
                r.message,
                r.code
            );
            let before = store
                .ingest(
                    &events[..bad],
                    &rules,
                    AsOf::At(now),
                    IngestMode::AllOrNothing,
                )
                .await?;
            count(&before, summary);
            summary.rejected.push((batch.lines[bad], reason));
            summary.stopped_early = true;
            batch.clear();
            return Ok(());
        }
    }
    for (i, r) in results.iter_mut().enumerate() {
        if let EventResult::Rejected(r) = r {
            let field = r
                .field
                .as_ref()
                .map(|f| format!("{f}: "))
                .unwrap_or_default();
            summary
                .rejected
                .push((batch.lines[i], format!("{field}{} ({})", r.message, r.code)));
        }
    }
    count(&results, summary);
    batch.clear();
    Ok(())
}

fn count(results: &[EventResult], summary: &mut Summary) {
    for r in results {
        match r {
            EventResult::Accepted(_) => summary.accepted += 1,
            EventResult::Duplicate(_) => summary.duplicates += 1,
            EventResult::Rejected(_) => {}
        }
    }
}

type Record = (u64, Result<Value, String>);

/// The file as numbered JSON values (or the reason a line is not one).
fn records(
    reader: impl Read + Send + 'static,
    format: Format,
) -> anyhow::Result<Box<dyn Iterator<Item = Record> + Send>> {
    Ok(match format {
        Format::Jsonl => {
            let lines =
                BufReader::with_capacity(1 << 20, Box::new(reader) as Box<dyn Read + Send>).lines();
            Box::new(lines.enumerate().filter_map(|(i, line)| {
                let n = i as u64 + 1;
                match line {
                    Ok(l) if l.trim().is_empty() => None,
                    Ok(l) => Some((
                        n,
                        serde_json::from_str(&l)
                            .map_err(|e| format!("not valid JSON: {e} (malformed_json)")),
                    )),
                    Err(e) => Some((n, Err(format!("unreadable line: {e}")))),
                }
            }))
        }
        Format::Csv => {
            let mut csv = csv::ReaderBuilder::new()
                .flexible(false)
                .from_reader(Box::new(reader) as Box<dyn Read + Send>);
            let headers: Vec<String> = csv
                .headers()
                .context("reading the CSV header")?
                .iter()
                .map(str::to_owned)
                .collect();
            for h in &headers {
                let known = flywheel_core::event::EVENT_FIELDS.contains(&h.as_str())
                    || h.starts_with("identities.")
                    || h.starts_with("properties.");
                if !known {
                    bail!(
                        "CSV column {h:?} is not an event field (event_id, type, occurred_at, channel, identities[.kind], properties[.key])"
                    );
                }
            }
            Box::new(csv.into_records().enumerate().map(move |(i, row)| {
                // Line numbers count the header as line 1.
                let n = i as u64 + 2;
                (
                    n,
                    row.map_err(|e| format!("unreadable CSV row: {e}"))
                        .and_then(|r| csv_event(&headers, &r)),
                )
            }))
        }
    })
}

fn csv_event(headers: &[String], row: &csv::StringRecord) -> Result<Value, String> {
    let mut event = Map::new();
    let mut identities = Map::new();
    let mut properties = Map::new();
    for (h, cell) in headers.iter().zip(row.iter()) {
        if cell.is_empty() {
            continue;
        }
        let json = |what: &str| {
            serde_json::from_str::<Value>(cell).map_err(|e| format!("{what}: not valid JSON: {e}"))
        };
        if h == "identities" {
            if let Value::Object(m) = json(h)? {
                identities.extend(m);
            }
        } else if h == "properties" {
            if let Value::Object(m) = json(h)? {
                properties.extend(m);
            }
        } else if let Some(kind) = h.strip_prefix("identities.") {
            identities.insert(kind.to_owned(), Value::String(cell.to_owned()));
        } else if let Some(key) = h.strip_prefix("properties.") {
            let value = match key {
                "rating" | "followers" => cell
                    .parse::<u64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| Value::String(cell.to_owned())),
                "items" | "referrer" => json(h)?,
                _ => Value::String(cell.to_owned()),
            };
            properties.insert(key.to_owned(), value);
        } else {
            event.insert(h.clone(), Value::String(cell.to_owned()));
        }
    }
    event.insert("identities".into(), Value::Object(identities));
    event.insert("properties".into(), Value::Object(properties));
    Ok(Value::Object(event))
}
