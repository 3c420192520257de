//! `flywheel keys create|list|revoke`: API keys are shown once, stored hashed.

use crate::config::Config;
use anyhow::{Context, bail};
use clap::Subcommand;
use flywheel_core::auth::{Role, format_key, hash_key, key_prefix};
use flywheel_core::time::to_rfc3339;
use flywheel_store::{AuditActor, Store};
use rand::RngCore;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it (it is shown only this once).
    Create {
        /// admin, operator, staff, integrator, finance or read_only
        #[arg(long)]
        role: String,
        /// A note to tell keys apart, e.g. "POS store 12".
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List keys (prefix, role, label; never the key itself).
    List,
    /// Revoke a key by id; running servers stop accepting it within 30 seconds.
    Revoke { id: i64 },
}

/// Makes a key, stores its hash (the audit log names `actor` as its maker), and returns
/// the key.
pub async fn create(
    store: &Store,
    role: Role,
    label: &str,
    actor: &AuditActor,
) -> anyhow::Result<(i64, String)> {
    let mut random = [0u8; 32];
    rand::rng().fill_bytes(&mut random);
    let key = format_key(&random);
    let now = chrono::Utc::now().timestamp_micros();
    let id = store
        .create_key(&hash_key(&key), &key_prefix(&key), role, label, now, actor)
        .await?;
    Ok((id, key))
}

pub async fn run(config: &Config, command: KeysCommand) -> anyhow::Result<()> {
    let store = Store::open(&config.server.db)
        .await
        .context("opening the database")?;
    match command {
        KeysCommand::Create { role, label } => {
            let Some(role) = Role::parse(&role) else {
                let all: Vec<_> = Role::ALL.iter().map(|r| r.as_str()).collect();
                bail!("unknown role {role:?}: use one of {}", all.join(", "));
            };
            let (id, key) = create(&store, role, &label, &AuditActor::cli()).await?;
            eprintln!("created key {id} ({role}); it is shown only once:");
            println!("{key}");
        }
        KeysCommand::List => {
            println!(
                "{:>5}  {:<10}  {:<10}  {:<25}  {:<8}  label",
                "id", "prefix", "role", "created", "status"
            );
            for k in store.list_keys().await? {
                let status = if k.revoked_at.is_some() {
                    "revoked"
                } else {
                    "live"
                };
                println!(
                    "{:>5}  {:<10}  {:<10}  {:<25}  {:<8}  {}",
                    k.id,
                    k.prefix,
                    k.role.as_str(),
                    to_rfc3339(k.created_at),
                    status,
                    k.label
                );
            }
        }
        KeysCommand::Revoke { id } => {
            if !store
                .revoke_key(
                    id,
                    chrono::Utc::now().timestamp_micros(),
                    &AuditActor::cli(),
                )
                .await?
            {
                bail!("no live key with id {id}");
            }
            println!("revoked key {id}");
        }
    }
    Ok(())
}
