//! Bodies of `/v1/fission-campaigns`, `/v1/fission-rounds`, `/v1/referrals` and
//! `/v1/share-links`: group-buys, help requests and bargains, their rounds, joins and the
//! orders a full group confirms; the referrals they and other invitations make; and the
//! tracked links members share.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A fission campaign. `kind` decides which of the kind's fields apply; a field of
/// another kind is refused.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FissionCampaignInput {
    /// Required on POST; the path's on PUT.
    pub id: Option<String>,
    pub name: String,
    /// group_buy | help | bargain
    pub kind: String,
    /// The product the campaign sells or rewards.
    pub sku: Option<String>,
    /// A round still open this many hours after it opened fails (group-buy) or expires;
    /// 24 by default.
    pub hours: Option<u32>,
    /// RFC 3339 with an offset: when rounds may be opened.
    pub starts_at: String,
    pub ends_at: String,
    /// group_buy: members in a full group, the leader included (2-100).
    pub size: Option<u32>,
    /// group_buy: what each member pays when the group fills (a decimal string).
    pub group_price: Option<String>,
    /// group_buy: the price outside a group; the group price when absent.
    pub list_price: Option<String>,
    /// help: weighted helps needed (1-1,000).
    pub target: Option<u32>,
    /// help: what a help from a member new to the brand since the round opened
    /// weighs (1-10); 1 by default.
    pub new_member_weight: Option<u32>,
    /// help: points credited to the leader at the target.
    pub reward_points: Option<i64>,
    /// help: a coupon issued to the leader at the target.
    pub reward_coupon: Option<String>,
    /// bargain: the starting price.
    pub price: Option<String>,
    /// bargain: the price the last helper brings it to.
    pub floor: Option<String>,
    /// bargain: helpers it takes to reach the floor (1-1,000).
    pub helpers: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct FissionCampaignView {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub sku: Option<String>,
    pub hours: u32,
    pub starts_at: String,
    pub ends_at: String,
    /// Rounds may be opened now.
    pub open: bool,
    pub size: Option<u32>,
    pub group_price: Option<String>,
    pub list_price: Option<String>,
    pub target: Option<u32>,
    pub new_member_weight: Option<u32>,
    pub reward_points: Option<i64>,
    pub reward_coupon: Option<String>,
    pub price: Option<String>,
    pub floor: Option<String>,
    pub helpers: Option<u32>,
    /// Rounds opened; of them filled or unlocked; friends who joined or helped.
    pub rounds: i64,
    pub completed: i64,
    pub joins: i64,
}

#[derive(Serialize, ToSchema)]
pub struct FissionCampaignList {
    pub campaigns: Vec<FissionCampaignView>,
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenRoundInput {
    /// The leader: who opens the group, asks for help or starts the bargain.
    pub member_id: i64,
    /// The same key again opens nothing more (1-100 characters).
    pub idempotency_key: String,
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinInput {
    /// The friend joining or helping; joining again answers the same join.
    pub member_id: i64,
}

#[derive(Serialize, ToSchema)]
pub struct JoinView {
    pub member_id: i64,
    pub at: String,
    /// The member came to the brand after the round opened.
    pub new_member: bool,
    /// What the help counted for (help rounds); 1 otherwise.
    pub weight: i64,
    /// What the helper took off the price (bargain rounds), a decimal string.
    pub cut: String,
    /// The number the cut was drawn from, so it can be worked out again.
    pub number: i64,
}

/// A member's order in a group-buy.
#[derive(Serialize, ToSchema)]
pub struct GroupOrderView {
    pub member_id: i64,
    /// The order the shop charges: `{round}:{member}`.
    pub order_id: String,
    /// pending (the group is open) | confirmed (full) | cancelled (failed: nothing
    /// charged)
    pub status: String,
    /// What the member is charged: the group price when confirmed, else 0.00.
    pub charged: String,
}

#[derive(Serialize, ToSchema)]
pub struct RoundView {
    /// Also the key of the round's share link: friends join through it.
    pub id: String,
    pub campaign_id: String,
    pub kind: String,
    pub leader_id: i64,
    /// open | filled (group-buy) | unlocked (help, bargain) | failed (group-buy:
    /// nothing charged) | expired (help, bargain)
    pub status: String,
    pub opened_at: String,
    /// Not complete by then, the round fails or expires.
    pub deadline: String,
    pub closed_at: Option<String>,
    /// Friends in the round (the leader not counted).
    pub joined: i64,
    /// Weighted helps (help rounds).
    pub progress: i64,
    /// What completes the round: the group's size, the help target, or the helpers a
    /// bargain takes.
    pub goal: u32,
    /// The group price, or a bargain's price now.
    pub price: String,
    /// When a help round's reward was given.
    pub rewarded_at: Option<String>,
    /// Where a friend's app posts to join.
    pub join_path: String,
    pub joins: Vec<JoinView>,
    /// Group-buys: the leader's and each member's order.
    pub orders: Vec<GroupOrderView>,
}

#[derive(Serialize, ToSchema)]
pub struct RoundList {
    pub rounds: Vec<RoundView>,
}

#[derive(Serialize, ToSchema)]
pub struct JoinAnswer {
    pub join: JoinView,
    pub round: RoundView,
}

/// A referral: who brought whom in, and where it stands. A referral held as farmed says
/// why; staff release or refuse it at `/v1/referrals/{event_id}/review`.
#[derive(Serialize, ToSchema)]
pub struct ReferralView {
    /// The `referral` event that made it.
    pub event_id: String,
    pub inviter_id: i64,
    pub invitee_id: i64,
    pub referred_at: String,
    /// The invitee's first purchase, when it came after the referral.
    pub converted_at: Option<String>,
    /// pending | converted | already_customer | superseded | refused_cycle | held |
    /// refused_farming
    pub status: String,
    /// Why it was held: how many of the inviter's invitees share which signal.
    pub hold_reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ReferralList {
    pub referrals: Vec<ReferralView>,
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferralReviewInput {
    /// release (the conversion counts and pays now) | refuse (it never will)
    pub decision: String,
    /// Why (in the audit log and the inviter's timeline; up to 500 characters).
    pub reason: Option<String>,
}

/// A tracked link for a member to share. The same `idempotency_key` again answers the
/// same link.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareLinkInput {
    pub member_id: i64,
    /// What is shared: an absolute http(s) URL (a product page in the brand's shop, an
    /// article). Readers land there with `fw_share=<token>` added.
    pub url: String,
    /// What the share is about (up to 200 characters).
    pub title: Option<String>,
    /// Where it is shared (an event channel; default wechat).
    pub channel: Option<String>,
    pub idempotency_key: String,
}

/// What a link counted.
#[derive(Serialize, ToSchema)]
pub struct ShareCountsView {
    /// Every visit of the link.
    pub clicks: u64,
    /// Distinct browsers that opened it.
    pub readers: u64,
    /// Distinct members (not the sharer) whose purchase named its token.
    pub buyers: u64,
    /// Of those, the ones for whom it was their first purchase.
    pub new_buyers: u64,
}

/// A milestone a link reached and was paid for (by the `share_milestone` rule naming it).
#[derive(Serialize, ToSchema)]
pub struct PaidMilestoneView {
    /// clicks | readers | buyers | new_buyers
    pub measure: String,
    pub at: u32,
    /// The sharer's `share_milestone` event (its points are in their ledger under it).
    pub event_id: String,
    pub paid_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct ShareLinkView {
    pub token: String,
    pub member_id: i64,
    pub url: String,
    /// The address to share: this server's `/s/{token}`, which counts the visit and sends
    /// the reader on to `url`.
    pub link: String,
    pub title: Option<String>,
    pub channel: String,
    pub created_at: String,
    pub counts: ShareCountsView,
    pub last_click_at: Option<String>,
    pub milestones: Vec<PaidMilestoneView>,
}

#[derive(Serialize, ToSchema)]
pub struct ShareLinkList {
    pub links: Vec<ShareLinkView>,
}
