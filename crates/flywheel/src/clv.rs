//! `flywheel clv fit|predict`: lifetime value for analysts, straight from a transaction
//! file, with no database. Fits BG/NBD and Gamma-Gamma (see `flywheel_core::clv`) as
//! of a calibration end date; `predict` writes one row per customer.
//!
//! The file has a header row and is delimited by commas, tabs or semicolons (detected
//! from the header) or, with none of those, by spaces (the CDNOW files);
//! dates are `YYYY-MM-DD` or `YYYYMMDD` (anything after the date, such as a time, is
//! ignored). Without an amount column only BG/NBD is fitted.

use anyhow::{Context, bail};
use chrono::NaiveDate;
use flywheel_core::clv::{BgNbd, Customer, GammaGamma, Model, Transaction, summarise};
use serde_json::json;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Subcommand)]
pub enum ClvCommand {
    /// Fit the models and print their parameters and the log-likelihood.
    Fit {
        #[command(flatten)]
        input: Input,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Fit, then predict every customer over a horizon (in periods) and write CSV.
    Predict {
        #[command(flatten)]
        input: Input,
        /// Periods to predict over (e.g. 39 weeks).
        #[arg(long)]
        horizon: f64,
        /// Where to write the predictions (default: standard output).
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Period {
    Day,
    Week,
}

impl Period {
    fn days(self) -> f64 {
        match self {
            Period::Day => 1.0,
            Period::Week => 7.0,
        }
    }
}

#[derive(clap::Args)]
pub struct Input {
    /// Transaction log: one purchase per row.
    #[arg(long)]
    transactions: PathBuf,
    /// Last day of the calibration period (inclusive); later rows are the holdout.
    #[arg(long, value_parser = parse_day_arg)]
    calibration_end: NaiveDate,
    /// Unit of recency, T and the horizon.
    #[arg(long, value_enum, default_value_t = Period::Week)]
    period: Period,
    #[arg(long, default_value = "customer_id")]
    customer_col: String,
    #[arg(long, default_value = "date")]
    date_col: String,
    /// The amount column (default `amount`, used if the file has one; without amounts
    /// only BG/NBD is fitted). Naming a column that is not there is an error.
    #[arg(long)]
    amount_col: Option<String>,
}

fn parse_day_arg(text: &str) -> Result<NaiveDate, String> {
    parse_day(text).ok_or_else(|| format!("'{text}' is not a date (YYYY-MM-DD or YYYYMMDD)"))
}

fn parse_day(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    let head = text.get(..10).unwrap_or(text);
    NaiveDate::parse_from_str(head, "%Y-%m-%d")
        .ok()
        .or_else(|| NaiveDate::parse_from_str(text.get(..8)?, "%Y%m%d").ok())
}

fn epoch_day(d: NaiveDate) -> i64 {
    d.signed_duration_since(NaiveDate::default()).num_days()
}

/// The log read from the file: customers are numbered in order of first appearance, so
/// the output follows the file.
struct Log {
    ids: Vec<String>,
    transactions: Vec<Transaction<usize>>,
    has_amounts: bool,
}

fn read_log(input: &Input) -> anyhow::Result<Log> {
    let path = &input.transactions;
    let (headers, records) = open_table(path)?;
    let column = |name: &str| headers.iter().position(|h| h == name);
    let found: Vec<&str> = headers.iter().map(String::as_str).collect();
    let Some(customer_col) = column(&input.customer_col) else {
        bail!(
            "{}: no column '{}' (columns: {})",
            path.display(),
            input.customer_col,
            found.join(", ")
        );
    };
    let Some(date_col) = column(&input.date_col) else {
        bail!(
            "{}: no column '{}' (columns: {})",
            path.display(),
            input.date_col,
            found.join(", ")
        );
    };
    let amount_col = match &input.amount_col {
        Some(name) => match column(name) {
            Some(i) => Some(i),
            None => bail!(
                "{}: no column '{}' (columns: {})",
                path.display(),
                name,
                found.join(", ")
            ),
        },
        None => column("amount"),
    };
    let amount_name = input.amount_col.as_deref().unwrap_or("amount");
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut log = Log {
        ids: Vec::new(),
        transactions: Vec::new(),
        has_amounts: amount_col.is_some(),
    };
    for (i, record) in records.enumerate() {
        let line = i + 2;
        let record = record.with_context(|| format!("line {line}"))?;
        let field = |col: usize| record.get(col).map(String::as_str).unwrap_or("");
        let id = field(customer_col);
        if id.is_empty() {
            bail!("line {line}: {} is empty", input.customer_col);
        }
        let date = field(date_col);
        let Some(day) = parse_day(date) else {
            bail!(
                "line {line}: {} '{date}' is not YYYY-MM-DD or YYYYMMDD",
                input.date_col
            );
        };
        let amount = match amount_col {
            Some(col) => {
                let text = field(col);
                match text.parse::<f64>() {
                    Ok(a) if a.is_finite() => a,
                    _ => bail!("line {line}: {amount_name} '{text}' is not a number"),
                }
            }
            None => 0.0,
        };
        let next = index.len();
        let customer = *index.entry(id.to_string()).or_insert_with(|| {
            log.ids.push(id.to_string());
            next
        });
        log.transactions.push(Transaction {
            customer,
            day: epoch_day(day),
            amount,
        });
    }
    Ok(log)
}

type Records = Box<dyn Iterator<Item = anyhow::Result<Vec<String>>>>;

/// The header and the rows of a delimited file. The delimiter is the commonest of comma,
/// tab and semicolon in the header; a header with none of them is split on runs of
/// spaces (as in the CDNOW files).
fn open_table(path: &Path) -> anyhow::Result<(Vec<String>, Records)> {
    use std::io::BufRead;
    let open =
        || std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()));
    let mut header = String::new();
    std::io::BufReader::new(open()?).read_line(&mut header)?;
    let delimiter = [b',', b'\t', b';']
        .into_iter()
        .map(|d| (header.bytes().filter(|b| *b == d).count(), d))
        .max()
        .filter(|(n, _)| *n > 0)
        .map(|(_, d)| d);
    match delimiter {
        Some(delimiter) => {
            let mut reader = csv::ReaderBuilder::new()
                .delimiter(delimiter)
                .trim(csv::Trim::All)
                .from_reader(open()?);
            let headers = reader.headers()?.iter().map(str::to_owned).collect();
            let rows = reader.into_records().map(|r| {
                r.map(|r| r.iter().map(str::to_owned).collect())
                    .map_err(anyhow::Error::from)
            });
            Ok((headers, Box::new(rows)))
        }
        None => {
            let mut lines = std::io::BufReader::new(open()?).lines();
            let split =
                |l: &str| -> Vec<String> { l.split_whitespace().map(str::to_owned).collect() };
            let headers = match lines.next() {
                Some(l) => split(&l?),
                None => Vec::new(),
            };
            let rows = lines
                .filter(|l| l.as_ref().map_or(true, |l| !l.trim().is_empty()))
                .map(move |l| l.map(|l| split(&l)).map_err(anyhow::Error::from));
            Ok((headers, Box::new(rows)))
        }
    }
}

struct Fitted {
    log: Log,
    customers: Vec<(usize, Customer)>,
    model: Model,
    bgnbd_ms: f64,
    gamma_gamma_ms: f64,
}

fn fit(input: &Input) -> anyhow::Result<Fitted> {
    let log = read_log(input)?;
    let end = epoch_day(input.calibration_end);
    let customers = summarise(log.transactions.clone(), end, input.period.days());
    let summaries: Vec<Customer> = customers.iter().map(|(_, c)| *c).collect();
    // Each fit is timed on its own, for comparisons with other implementations.
    let started = Instant::now();
    let Some(purchases) = BgNbd::fit(&summaries) else {
        bail!(
            "no customer bought before {}: nothing to fit",
            input.calibration_end
        );
    };
    let bgnbd_ms = started.elapsed().as_secs_f64() * 1000.0;
    let started = Instant::now();
    let spend = if log.has_amounts {
        GammaGamma::fit(&summaries)
    } else {
        None
    };
    let gamma_gamma_ms = started.elapsed().as_secs_f64() * 1000.0;
    let model = Model { purchases, spend };
    Ok(Fitted {
        log,
        customers,
        model,
        bgnbd_ms,
        gamma_gamma_ms,
    })
}

pub fn run(command: ClvCommand) -> anyhow::Result<()> {
    match command {
        ClvCommand::Fit { input, json } => {
            let f = fit(&input)?;
            let bg = f.model.purchases.model;
            let ll = f.model.purchases.log_likelihood;
            if json {
                let out = json!({
                    "bgnbd": {"r": bg.r, "alpha": bg.alpha, "a": bg.a, "b": bg.b, "log_likelihood": ll},
                    "gamma_gamma": f.model.spend.map(|g| json!({"p": g.p, "q": g.q, "gamma": g.gamma})),
                    "customers": f.customers.len(),
                    "timings": {"bgnbd_fit_ms": f.bgnbd_ms, "gamma_gamma_fit_ms": f.gamma_gamma_ms},
                });
                println!("{out}");
            } else {
                println!(
                    "{} customers; calibration ends {}; periods of {} day(s)",
                    f.customers.len(),
                    input.calibration_end,
                    input.period.days()
                );
                println!(
                    "BG/NBD       r = {:.4}  alpha = {:.4}  a = {:.4}  b = {:.4}  log-likelihood = {:.2}",
                    bg.r, bg.alpha, bg.a, bg.b, ll
                );
                match f.model.spend {
                    Some(g) => println!(
                        "Gamma-Gamma  p = {:.4}  q = {:.4}  gamma = {:.4}",
                        g.p, g.q, g.gamma
                    ),
                    None => {
                        println!("Gamma-Gamma  not fitted (no amounts, or no repeat purchases)")
                    }
                }
            }
            Ok(())
        }
        ClvCommand::Predict {
            input,
            horizon,
            output,
        } => {
            if !(horizon.is_finite() && horizon >= 0.0) {
                bail!("--horizon must be a number of periods, 0 or more");
            }
            let f = fit(&input)?;
            let out: Box<dyn Write> = match &output {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path)
                        .with_context(|| format!("cannot write {}", path.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            // The csv crate quotes any customer id that would break a row.
            let mut out = csv::Writer::from_writer(out);
            out.write_record([
                "customer_id",
                "frequency",
                "recency",
                "T",
                "p_alive",
                "expected_purchases",
                "expected_avg_value",
                "clv",
            ])?;
            let mut rows = f.customers;
            rows.sort_by_key(|(i, _)| *i);
            for (i, c) in &rows {
                let p = f.model.predict(c, horizon);
                out.write_record([
                    f.log.ids[*i].clone(),
                    c.frequency.to_string(),
                    c.recency.to_string(),
                    c.age.to_string(),
                    p.p_alive.to_string(),
                    p.expected_purchases.to_string(),
                    p.expected_avg_value.to_string(),
                    p.clv.to_string(),
                ])?;
            }
            out.flush()?;
            if let Some(path) = output {
                eprintln!(
                    "{} customers predicted over {horizon} periods → {}",
                    rows.len(),
                    path.display()
                );
            }
            Ok(())
        }
    }
}
