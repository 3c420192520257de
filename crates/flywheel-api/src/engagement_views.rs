//! Bodies of the engagement API (issue 18): the content library and consent.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A template for one channel. Variables are written `{{nickname}}`; the known ones are
/// nickname, name, member_id, stage, tier, points.balance, points.expiring_next,
/// points.expiring_at and link. A template naming another is refused.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContentInput {
    /// 1-40 lower-case letters, digits, '_' or '-'; required on POST, the path's on PUT.
    pub id: Option<String>,
    /// sms, email, wechat, push or webhook.
    pub channel: String,
    /// A name for people; the id when absent.
    pub name: Option<String>,
    /// The e-mail subject or the push title (up to 200 characters).
    pub subject: Option<String>,
    /// Up to 4,000 characters.
    pub body: String,
    /// Where the tracked link (`{{link}}`) leads: an http(s) URL.
    pub link: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ContentView {
    pub id: String,
    pub channel: String,
    pub name: String,
    pub subject: Option<String>,
    pub body: String,
    pub link: Option<String>,
    /// The variables the template names, in order of first use.
    pub variables: Vec<String>,
    /// Counts saves that changed it.
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
    pub updated_by: String,
}

#[derive(Serialize, ToSchema)]
pub struct ContentList {
    pub content: Vec<ContentView>,
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContentPreviewInput {
    /// The member whose data fills the variables.
    pub member_id: i64,
}

/// The template as this member would receive it now.
#[derive(Serialize, ToSchema)]
pub struct ContentPreviewView {
    pub content: String,
    pub member_id: i64,
    pub channel: String,
    pub subject: Option<String>,
    pub body: String,
}

/// A grant or withdrawal of consent to be contacted on one channel.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentInput {
    /// sms, email, wechat, push or webhook.
    pub channel: String,
    pub granted: bool,
    /// Where the member said so: 1-40 lower-case letters, digits or '_' (`call_center`,
    /// `app`, `store`…).
    pub source: String,
}

#[derive(Serialize, ToSchema)]
pub struct ConsentView {
    pub channel: String,
    pub granted: bool,
    pub source: String,
    /// When it was recorded.
    pub at: String,
    /// The API key (or process) that recorded it.
    pub set_by: String,
}

/// A member's consents: only channels someone recorded a word on are listed.
#[derive(Serialize, ToSchema)]
pub struct ConsentsView {
    /// The member (the survivor, when the id asked for was merged).
    pub member_id: i64,
    pub consents: Vec<ConsentView>,
}
