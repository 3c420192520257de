//! The facts a person reads on a member document: all-time counters, and window facts
//! counted at the moment of reading (so they are right however long ago the member was
//! last written). Money as decimal strings, instants as RFC 3339.

use crate::facts::MemberFacts;
use crate::money::Money;
use crate::time::{Micros, to_rfc3339};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Serialize)]
pub struct FactsView {
    pub purchase_count: u32,
    pub total_spent: String,
    pub gross_spent: String,
    pub refunded: String,
    pub refunded_orders: u32,
    pub first_purchase_at: Option<String>,
    pub last_purchase_at: Option<String>,
    pub window_days: u32,
    pub purchases_in_window: u32,
    pub spent_in_window: String,
    pub categories_in_window: Vec<String>,
    pub sub_brands_in_window: Vec<String>,
    pub categories: BTreeMap<String, u32>,
    pub sub_brands: BTreeMap<String, u32>,
    pub repeat_sku_purchases: u32,
    /// SKUs bought in three or more orders: "the same item more than three times is a real repurchase".
    pub skus_bought_three_times: u32,
    pub likes: u32,
    pub comments: u32,
    pub check_ins: u32,
    pub reviews: u32,
    pub positive_reviews: u32,
    pub negative_reviews: u32,
    pub shares: u32,
    pub referrals_made: u32,
    pub referrals_converted: u32,
    pub feedback: u32,
    pub suggestions: u32,
    pub complaints: u32,
    pub complaints_resolved: u32,
    /// Of those, resolved within their service queue's targets.
    pub complaints_resolved_in_time: u32,
    /// A complaint resolved within target, then a purchase: a critic won back.
    pub complainer_won_back: bool,
    pub open_complaints: usize,
    pub open_complaint_since: Option<String>,
    pub messages_in: u32,
    pub messages_out: u32,
    pub participations: BTreeMap<String, u32>,
    /// The customer groups the member is in now (their ids); `groups_count` in segments.
    pub groups: Vec<String>,
    /// The shop assistants with an open WeCom contact with the member.
    pub wecom_assistants: Vec<String>,
    pub visits: u32,
    pub follows: u32,
    pub unfollows: u32,
    pub registers: u32,
    pub deposits: u32,
    pub content_opens: u32,
    pub content_clicks: u32,
    pub custom: BTreeMap<String, u32>,
    /// Events per channel.
    pub channels: BTreeMap<String, u32>,
    pub events: u64,
    pub first_seen_at: Option<String>,
    pub last_seen_at: Option<String>,
    pub last_interaction_at: Option<String>,
}

impl FactsView {
    pub fn of(f: &MemberFacts, as_of: Micros, window_days: u32) -> FactsView {
        let w = f.window(as_of, window_days);
        let at = |t: Option<Micros>| t.map(to_rfc3339);
        FactsView {
            purchase_count: f.purchase_count(),
            total_spent: f.net_spent().to_string(),
            gross_spent: Money::from_minor(f.gross_spent).to_string(),
            refunded: Money::from_minor(f.refunded).to_string(),
            refunded_orders: f.refunded_orders,
            first_purchase_at: at(f.first_purchase_at),
            last_purchase_at: at(f.last_purchase_at),
            window_days,
            purchases_in_window: w.purchases,
            spent_in_window: Money::from_minor(w.spent).to_string(),
            categories_in_window: w.categories.into_iter().collect(),
            sub_brands_in_window: w.sub_brands.into_iter().collect(),
            categories: f.categories.clone(),
            sub_brands: f.sub_brands.clone(),
            repeat_sku_purchases: f.repeat_sku_purchases(),
            skus_bought_three_times: f.skus.values().filter(|n| **n >= 3).count() as u32,
            likes: f.likes,
            comments: f.comments,
            check_ins: f.check_ins,
            reviews: f.reviews,
            positive_reviews: f.reviews_positive,
            negative_reviews: f.reviews_negative,
            shares: f.shares,
            referrals_made: f.referrals_made,
            referrals_converted: f.referrals_converted,
            feedback: f.feedback,
            suggestions: f.suggestions,
            complaints: f.complaints,
            complaints_resolved: f.complaints_resolved,
            complaints_resolved_in_time: f.complaints_resolved_in_time,
            complainer_won_back: f.complainer_won_back(),
            open_complaints: f.open_complaints.len(),
            open_complaint_since: at(f.oldest_open_complaint()),
            messages_in: f.messages_in,
            messages_out: f.messages_out,
            participations: f.participations.clone(),
            groups: crate::link::open(&f.groups).map(str::to_owned).collect(),
            wecom_assistants: crate::link::open(&f.assistants)
                .map(str::to_owned)
                .collect(),
            visits: f.visits,
            follows: f.follows,
            unfollows: f.unfollows,
            registers: f.registers,
            deposits: f.deposits,
            content_opens: f.content_opens,
            content_clicks: f.content_clicks,
            custom: f.custom.clone(),
            channels: f.channels.clone(),
            events: f.events,
            first_seen_at: at(f.first_seen_at),
            last_seen_at: at(f.last_seen_at),
            last_interaction_at: at(f.last_interaction_at),
        }
    }
}
