//! The WeChat side of the server (issue 22): the accounts' settings from the config file
//! (`[wechat.official_account]`, `[wechat.work]`), the callbacks' crypto and XML. The
//! routes are in `routes/wechat.rs`; what a push becomes is the core's `wechat.rs`.

pub mod crypto;
pub mod xml;

use serde::Deserialize;

/// `[wechat]` in the config file; an account not configured has no callback.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WechatSettings {
    pub official_account: Option<AccountSettings>,
    /// WeCom (企业微信): `id` is the corp id.
    pub work: Option<AccountSettings>,
}

/// One account: the token both sides sign with, the key of safe mode (none: plain
/// mode), and the app id (official account) or corp id (WeCom) messages are for.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSettings {
    pub token: String,
    #[serde(default)]
    pub encoding_aes_key: Option<String>,
    #[serde(default, alias = "app_id", alias = "corp_id")]
    pub id: String,
}

/// The id only: the token and key are secrets and stay out of logs.
impl std::fmt::Debug for AccountSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountSettings")
            .field("id", &self.id)
            .field("safe_mode", &self.encoding_aes_key.is_some())
            .finish_non_exhaustive()
    }
}

impl WechatSettings {
    /// Checks what can be checked before the first callback arrives.
    pub fn validate(&self) -> Result<(), String> {
        for (section, account) in [
            ("[wechat.official_account]", &self.official_account),
            ("[wechat.work]", &self.work),
        ] {
            let Some(a) = account else { continue };
            if a.token.trim().is_empty() || a.token.len() > 64 {
                return Err(format!("{section} token must be 1-64 characters"));
            }
            if let Some(key) = &a.encoding_aes_key {
                crypto::MessageCrypt::new(key, &a.id).map_err(|e| format!("{section} {e}"))?;
                if a.id.trim().is_empty() {
                    return Err(format!(
                        "{section} needs its app_id (corp_id for WeCom) in safe mode"
                    ));
                }
            }
        }
        Ok(())
    }
}
