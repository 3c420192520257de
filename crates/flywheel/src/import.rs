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
    /// Order the file's events by occurred_at before importing (on disk if it is large),
    /// so a history in any order is judged at its own time.
    #[arg(long)]
    sort: bool,
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
    /// The present for the import: stages, points and memberships are brought up to it
    /// at the end (and events out of time order are judged at it); `None`: now.
    pub as_of: Option<i64>,
    /// Order the file by occurred_at first.
    pub sort: bool,
}

/// When the file's events were judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timing {
    /// Every event in time order, each judged at its own occurred_at, with what the
    /// clock changes (silences, expiring points, ending terms) applied in between.
    History,
    /// The event on `line` is earlier than one before it: from there on events were
    /// judged at the present (the import's instant), and everything was brought up to
    /// it at the end.
    PresentFrom { line: u64 },
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
    /// In time order until proven otherwise.
    pub timing: Option<Timing>,
    /// The latest occurred_at imported in time order so far.
    last_at: i64,
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
    // Holding the lease, nobody waits for this process's writer: the clock's passes
    // between days take their largest slices.
    store.work_alone();
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
            sort: args.sort,
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
    match summary.timing {
        Some(Timing::History) | None => println!(
            "history in time order: each event judged at its own occurred_at, the clock's changes applied between"
        ),
        Some(Timing::PresentFrom { line }) => println!(
            "line {line} is earlier than a line before it: from there events were judged at the present and every member brought up to it (import with --sort to replay the history in order)"
        ),
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
    let mut records = records(reader, format)?;
    if options.sort {
        records = crate::import_sort::sorted(records, crate::import_sort::RUN)?;
    }
    // What the database already knows is not judged again at an earlier instant.
    let mut writer = Writer {
        store,
        config,
        options,
        replay: crate::replay::Replay::new(),
        not_before: store.judged_until().await?.unwrap_or(i64::MIN),
    };
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
                        flush(&mut writer, &mut batch, &mut summary).await?;
                        writer.finish(&mut summary).await?;
                        summary.stopped_early = true;
                        return Ok(summary);
                    }
                }
            }
            if batch.events.len() >= batch_size {
                flush(&mut writer, &mut batch, &mut summary).await?;
                progress(&summary);
                if summary.stopped_early {
                    writer.finish(&mut summary).await?;
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
    flush(&mut writer, &mut batch, &mut summary).await?;
    writer.finish(&mut summary).await?;
    progress(&summary);
    Ok(summary)
}

/// What writing a file's batches needs besides the batch: where, how, and the replay's
/// state.
struct Writer<'a> {
    store: &'a Store,
    config: &'a Config,
    options: Options,
    replay: crate::replay::Replay,
    /// What the database was judged at before the import: no event is judged earlier.
    not_before: i64,
}

impl Writer<'_> {
    /// Brings every member up to the import's present: after a history in time order,
    /// what the clock changed since the last event, each at its own instant; after one
    /// out of order, a full re-evaluation at the present.
    async fn finish(&mut self, summary: &mut Summary) -> anyhow::Result<()> {
        let (store, config, now) = (self.store, self.config, self.options.now());
        match summary.timing {
            Some(Timing::PresentFrom { .. }) => {
                store.sweep(&config.policy.stages, now, true).await?;
                self.replay.catch_up(store, config, now).await?;
            }
            Some(Timing::History) => self.replay.catch_up(store, config, now).await?,
            None => {}
        }
        Ok(())
    }
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

/// Imports the gathered batch: the part still in time order stretch by stretch at event
/// time, with the clock's changes applied before each stretch; from the first event
/// earlier than one before it, the rest at the present.
async fn flush(
    w: &mut Writer<'_>,
    batch: &mut Pending,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    if batch.events.is_empty() {
        return Ok(());
    }
    // The batch is one transaction, however many days its events span (`held.rs`);
    // None where this process cannot hold one: then each group and sweep commits alone.
    let held = w.store.hold_writes().await?;
    let store = held.as_ref().map_or(w.store, |h| h.store());
    let applied = apply_batch(store, w, batch, summary).await;
    match (held, applied) {
        (Some(held), Ok(())) => held.commit().await?,
        (Some(held), Err(e)) => {
            // The batch is undone whole (and the member cache that saw it emptied); the
            // import stops with the error that undid it.
            if let Err(undo) = held.rollback().await {
                tracing::warn!(error = %undo, "rolling back the failed batch failed");
            }
            return Err(e);
        }
        (None, applied) => applied?,
    }
    batch.clear();
    Ok(())
}

/// Applies the batch's events through `store`: in time order, a day at a time after the
/// clock's changes up to that day; from the first out of order, at the present.
async fn apply_batch(
    store: &Store,
    w: &mut Writer<'_>,
    batch: &Pending,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let (config, options, not_before) = (w.config, w.options, w.not_before);
    let replay = &mut w.replay;
    let rules = config.policy.rules();
    let events = &batch.events;
    let mut in_order = 0;
    if matches!(summary.timing, None | Some(Timing::History)) {
        let mut last = summary.last_at;
        while in_order < events.len() && events[in_order].occurred_at >= last {
            last = events[in_order].occurred_at;
            in_order += 1;
        }
        if in_order > 0 {
            summary.timing = Some(Timing::History);
        }
        for range in crate::replay::stretches(&events[..in_order]) {
            replay
                .catch_up(
                    store,
                    config,
                    crate::replay::day_start(events[range.start].occurred_at),
                )
                .await?;
            let stopped = ingest_part(
                store,
                &rules,
                &events[range.clone()],
                &batch.lines[range.clone()],
                AsOf::EventTime(not_before),
                options.strict,
                summary,
            )
            .await?;
            summary.last_at = events[range.end - 1].occurred_at;
            if stopped {
                return Ok(());
            }
        }
        if in_order < events.len() {
            summary.timing = Some(Timing::PresentFrom {
                line: batch.lines[in_order],
            });
        }
    }
    if in_order < events.len() {
        ingest_part(
            store,
            &rules,
            &events[in_order..],
            &batch.lines[in_order..],
            AsOf::At(options.now()),
            options.strict,
            summary,
        )
        .await?;
    }
    Ok(())
}

/// Ingests `events` (from `lines`) at `as_of`, counting each answer; with `strict`, keeps
/// what came before the first bad event and reports true (stop).
async fn ingest_part(
    store: &Store,
    rules: &flywheel_core::ingest::Rules<'_>,
    events: &[Event],
    lines: &[u64],
    as_of: AsOf,
    strict: bool,
    summary: &mut Summary,
) -> anyhow::Result<bool> {
    let mode = if strict {
        IngestMode::AllOrNothing
    } else {
        IngestMode::SkipRejected
    };
    let mut results = store.ingest(events, rules, as_of, mode).await?;
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
                .ingest(&events[..bad], rules, as_of, IngestMode::AllOrNothing)
                .await?;
            count(&before, summary);
            summary.rejected.push((lines[bad], reason));
            summary.stopped_early = true;
            return Ok(true);
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
                .push((lines[i], format!("{field}{} ({})", r.message, r.code)));
        }
    }
    count(&results, summary);
    Ok(false)
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

/// A line's number and its JSON value, or why it is not one.
pub type Record = (u64, Result<Value, String>);

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
