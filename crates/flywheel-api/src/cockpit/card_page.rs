//! `/card/{token}`: the member's own card, opened from a signed link on their phone —
//! card number as a QR code and a Code 128 barcode, tiers with the way to the next,
//! benefits, points and what expires next, tasks, and the links they shared with what
//! each brought; the activities they may join or have joined, and their ideas on the
//! co-creation board, with the forms to act on them (`card_actions.rs`). No sign-in;
//! nothing but that member's card.

use super::card_actions::{CardActivity, activities_for, note_text};
use super::page::{PageError, html_response};
use crate::membership_views::CardView;
use crate::routes::card;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use barcoders::generators::svg::SVG;
use barcoders::sym::code128::Code128;
use qrcode::QrCode;
use qrcode::render::svg;

#[derive(Template)]
#[template(path = "card.html")]
struct CardPage {
    card: CardView,
    /// What the codes carry: the card number, else `M` and the member id.
    code_text: String,
    qr_svg: String,
    barcode_svg: String,
    /// The member's latest tracked share links, and where this server is reached.
    shares: Vec<flywheel_store::ShareLinkRow>,
    base: String,
    /// The link's own token: the card's forms post back to it.
    token: String,
    activities: Vec<CardActivity>,
    ideas: Vec<flywheel_store::IdeaRow>,
    /// Tells the idea form's sends apart, so sending one form twice files one idea.
    form_key: String,
    /// What the last action did, in plain words.
    note: Option<&'static str>,
    note_is_error: bool,
}

#[derive(serde::Deserialize)]
pub(super) struct CardQuery {
    #[serde(default)]
    note: Option<String>,
}

/// An idea's status as the member reads it.
pub(super) fn idea_status(status: &str) -> &'static str {
    match status {
        "received" => "received",
        "under_review" => "under review",
        "adopted" => "adopted",
        "shipped" => "shipped",
        "declined" => "not taken up",
        _ => "received",
    }
}

/// The QR code of `text` as an SVG element.
fn qr(text: &str) -> String {
    match QrCode::new(text.as_bytes()) {
        Ok(code) => code
            .render::<svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
        Err(_) => String::new(),
    }
}

/// `text` as a Code 128 barcode (character set B, which covers printable ASCII).
fn barcode(text: &str) -> String {
    let printable = text.chars().all(|c| c.is_ascii_graphic() || c == ' ');
    if !printable {
        return String::new();
    }
    match Code128::new(format!("\u{0181}{text}")) {
        // Stretched to the card's width: bars keep their proportions across.
        Ok(code) => SVG::new(80)
            .generate(code.encode())
            .map(|svg| svg.replacen("<svg ", "<svg preserveAspectRatio=\"none\" ", 1))
            .unwrap_or_default(),
        Err(_) => String::new(),
    }
}

pub(super) async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
    Query(query): Query<CardQuery>,
) -> Result<Response, PageError> {
    let member = super::card_link::verify(&state, &token).await?;
    let card = card::card(&state, member, false).await?;
    let shares = state
        .store
        .share_links(Some(card.member_id), false, 5)
        .await
        .map_err(crate::error::ApiError::from)?;
    let now = state.now();
    let activities = activities_for(&state, card.member_id, now).await?;
    let ideas = state
        .store
        .member_ideas(card.member_id)
        .await
        .map_err(crate::error::ApiError::from)?;
    let note_code = query.note;
    let note = note_code.as_deref().and_then(note_text);
    let note_is_error = note_code.as_deref().is_some_and(|n| n.contains('_'));
    let code_text = card
        .card_no
        .clone()
        .unwrap_or_else(|| format!("M{}", card.member_id));
    let page = CardPage {
        qr_svg: qr(&code_text),
        barcode_svg: barcode(&code_text),
        code_text,
        card,
        shares,
        base: card::public_base(&state, &headers),
        token,
        activities,
        ideas,
        form_key: format!("{now:x}"),
        note,
        note_is_error,
    };
    let html = page.render().map_err(crate::error::ApiError::internal)?;
    // The card shows its own member's phone masked already (the card view masks it).
    Ok(html_response(StatusCode::OK, html))
}
