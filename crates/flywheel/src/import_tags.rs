//! `flywheel import --tags FILE.csv`: tags a brand keeps elsewhere (a fair's sign-up
//! sheet, a CRM export), one per line — `kind,value,tag` — set on the members those
//! identities name. Each line that cannot be applied is reported with its number and
//! reason; the others are applied, and the members' segments move with them.

use crate::config::Config;
use anyhow::Context;
use flywheel_core::IdentityKind;
use flywheel_store::{SegmentSettings, Store, TagImportLine};
use std::path::Path;
use std::process::ExitCode;

pub async fn run(
    store: &Store,
    config: &Config,
    file: &Path,
    as_of: Option<i64>,
) -> anyhow::Result<ExitCode> {
    store.configure_segments(SegmentSettings::of(&config.policy));
    let now = as_of.unwrap_or_else(|| chrono::Utc::now().timestamp_micros());
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_path(file)
        .with_context(|| format!("opening {}", file.display()))?;
    let header: Vec<String> = reader
        .headers()?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    let column = |name: &str| header.iter().position(|h| h == name);
    let (Some(kind_at), Some(value_at), Some(tag_at)) =
        (column("kind"), column("value"), column("tag"))
    else {
        anyhow::bail!(
            "{}: the header must name the columns kind, value and tag (found: {})",
            file.display(),
            header.join(",")
        );
    };
    let mut lines = Vec::new();
    let mut rejected: Vec<(u64, String)> = Vec::new();
    for (i, record) in reader.records().enumerate() {
        // Line 1 is the header.
        let line = i as u64 + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                rejected.push((line, format!("not CSV: {e}")));
                continue;
            }
        };
        let field = |at: usize| record.get(at).unwrap_or("").trim().to_owned();
        let (kind, value, tag) = (field(kind_at), field(value_at), field(tag_at));
        let kind: IdentityKind = match kind.parse() {
            Ok(k) => k,
            Err(_) => {
                rejected.push((line, format!("{kind:?} is not an identity kind")));
                continue;
            }
        };
        let identity = match config.policy.identity.normalise(kind, &value) {
            Ok(i) => i,
            Err(e) => {
                rejected.push((line, format!("{value:?}: {e}")));
                continue;
            }
        };
        lines.push(TagImportLine {
            line,
            identity_key: identity.key(),
            tag,
        });
    }
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.display().to_string());
    let (set, refused) = store.import_tags(&lines, &name, now).await?;
    rejected.extend(refused);
    rejected.sort();
    store.close().await;
    println!(
        "{}: {set} tags set, {} lines rejected",
        file.display(),
        rejected.len()
    );
    for (line, reason) in rejected.iter().take(100) {
        println!("  line {line}: {reason}");
    }
    if rejected.len() > 100 {
        println!("  … and {} more rejected lines", rejected.len() - 100);
    }
    Ok(ExitCode::SUCCESS)
}
