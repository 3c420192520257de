//! Every error code Flywheel answers with, as one type: each code decides its HTTP status
//! and carries the sentence the README's error table shows for it.
//!
//! The core's validation, the store's rejections and the API's errors all use
//! [`ErrorCode`], so a code cannot be mistyped and never falls through to a 500 by
//! accident. `README.md` lists the same table; a test in `flywheel-api` compares the two.

use serde::{Serialize, Serializer};
use std::fmt;

macro_rules! codes {
    ($($variant:ident = $name:literal, $status:literal, $meaning:literal;)+) => {
        /// A stable snake_case error code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorCode {
            $(#[doc = $meaning] $variant,)+
        }

        impl ErrorCode {
            /// Every code, in the order of the README's table.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)+
                }
            }

            /// The HTTP status an answer with this code has.
            pub const fn status(self) -> u16 {
                match self {
                    $(ErrorCode::$variant => $status,)+
                }
            }

            /// What the code means, in one sentence (the README's table).
            pub const fn meaning(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $meaning,)+
                }
            }
        }
    };
}

codes! {
    MalformedJson = "malformed_json", 400, "The body is empty or not JSON.";
    InvalidQuery = "invalid_query", 400, "A query parameter is unknown, or its value does not parse.";
    CallRejected = "call_rejected", 400, "A tracking-protocol call could not become an event (strict mode; otherwise it goes to the dead-letter list).";
    CallbackMalformed = "callback_malformed", 400, "A WeChat callback's body is not the platform's XML, or its safe-mode message does not decrypt.";
    InvalidCursor = "invalid_cursor", 400, "A paging cursor is not one a previous page gave.";
    InvalidMemberId = "invalid_member_id", 400, "A member id in the path is not a positive whole number.";
    Unauthorized = "unauthorized", 401, "No API key was sent, or it is unknown or revoked.";
    SignatureInvalid = "signature_invalid", 401, "A WeChat callback's signature is missing or was not made with the account's token; nothing was written.";
    Forbidden = "forbidden", 403, "The key's role may not do this.";
    CsrfMismatch = "csrf_mismatch", 403, "A cockpit form's CSRF token is missing or not the session's; reload the page.";
    InvalidCardLink = "invalid_card_link", 403, "A member card link's signature does not match, or the link has expired.";
    NotFound = "not_found", 404, "There is no such route.";
    MemberNotFound = "member_not_found", 404, "No member has that id or identity.";
    ConflictNotFound = "conflict_not_found", 404, "No identity conflict has that id.";
    RewardNotFound = "reward_not_found", 404, "No reward has that id.";
    PartnerNotFound = "partner_not_found", 404, "No partner brand has that id.";
    ProgrammeNotFound = "programme_not_found", 404, "No membership programme has that id.";
    BenefitNotFound = "benefit_not_found", 404, "No benefit has that id.";
    RedemptionNotFound = "redemption_not_found", 404, "No redemption has that id.";
    SegmentNotFound = "segment_not_found", 404, "No segment has that id.";
    TagNotFound = "tag_not_found", 404, "The member does not carry that tag.";
    ContentNotFound = "content_not_found", 404, "No content in the library has that id.";
    JourneyNotFound = "journey_not_found", 404, "No journey has that id.";
    CampaignNotFound = "campaign_not_found", 404, "No campaign has that id.";
    QueueNotFound = "queue_not_found", 404, "No service queue has that id.";
    TicketNotFound = "ticket_not_found", 404, "No ticket has that id.";
    StaffNotFound = "staff_not_found", 404, "No member of staff has that id.";
    ProductNotFound = "product_not_found", 404, "No product in the catalogue has that SKU.";
    CouponNotFound = "coupon_not_found", 404, "No coupon has that id, or no issued coupon has that code.";
    LotteryNotFound = "lottery_not_found", 404, "No lottery has that id, or it has no such draw.";
    FlashSaleNotFound = "flash_sale_not_found", 404, "No flash sale has that id, or it has no such claim.";
    AwardNotFound = "award_not_found", 404, "No award has that id.";
    LeaderboardNotFound = "leaderboard_not_found", 404, "No leaderboard has that id.";
    FissionNotFound = "fission_not_found", 404, "No fission campaign has that id, or no round of it has that id.";
    ReferralNotFound = "referral_not_found", 404, "No referral has that event id.";
    ShareLinkNotFound = "share_link_not_found", 404, "No tracked share link has that token.";
    IdeaNotFound = "idea_not_found", 404, "No idea on the co-creation board has that id.";
    ActivityNotFound = "activity_not_found", 404, "No activity has that id, or the member has no RSVP to it.";
    MethodNotAllowed = "method_not_allowed", 405, "The route exists but does not take that method.";
    RequestTimeout = "request_timeout", 408, "The request body did not arrive in time.";
    OrderExists = "order_exists", 409, "The order was already recorded by another event.";
    EventIdReused = "event_id_reused", 409, "The event_id was used before for an event with different content.";
    AlreadyMerged = "already_merged", 409, "The two member ids are already one member.";
    ConflictClosed = "conflict_closed", 409, "The identity conflict was already settled.";
    MemberErased = "member_erased", 409, "The member's personal data was erased; it can no longer change.";
    InsufficientPoints = "insufficient_points", 409, "The member has fewer points available than asked for.";
    OutOfStock = "out_of_stock", 409, "The reward has no stock left.";
    RewardUnavailable = "reward_unavailable", 409, "The reward is switched off or outside its dates.";
    LimitReached = "limit_reached", 409, "A per-member or daily limit is used up.";
    IdempotencyKeyReused = "idempotency_key_reused", 409, "The idempotency_key was used before for a different request.";
    RewardExists = "reward_exists", 409, "A reward with that id exists.";
    PartnerExists = "partner_exists", 409, "A partner brand with that id exists.";
    CoolingOffOver = "cooling_off_over", 409, "The membership purchase is past its cooling-off period; it can no longer be cancelled.";
    PurchaseSuperseded = "purchase_superseded", 409, "A later purchase of the same programme holds; cancel that one first.";
    BenefitExists = "benefit_exists", 409, "A benefit with that id exists.";
    BenefitNotHeld = "benefit_not_held", 409, "None of the member's tiers gives that benefit now.";
    BenefitNotInEffect = "benefit_not_in_effect", 409, "The benefit cannot be used at this time (before or after its dates).";
    BenefitOutOfScope = "benefit_out_of_scope", 409, "The benefit does not apply on that channel or category.";
    BenefitLimitReached = "benefit_limit_reached", 409, "The member has used the benefit as often as its limit allows in this period.";
    BenefitOutOfCodes = "benefit_out_of_codes", 409, "Every code the partner supplied for the benefit has been handed out; load more.";
    SegmentExists = "segment_exists", 409, "A segment with that id exists; change it with PUT.";
    SegmentInUse = "segment_in_use", 409, "Another segment reads this one (in_segment); change that one first.";
    ContentExists = "content_exists", 409, "Content with that id exists; change it with PUT.";
    JourneyExists = "journey_exists", 409, "A journey with that id exists; change it with PUT.";
    CampaignExists = "campaign_exists", 409, "A campaign with that id exists; change it with PUT.";
    AllowanceExceeded = "allowance_exceeded", 409, "The gift would take the member of staff past their points allowance for the month.";
    NotEligible = "not_eligible", 409, "The member does not meet the card's or the activity's eligibility.";
    ActivityClosed = "activity_closed", 409, "The activity is cancelled or over, or not taking check-ins now.";
    ActivityFull = "activity_full", 409, "Every seat of the activity is taken.";
    InvalidTransition = "invalid_transition", 409, "The idea cannot move from its status to the one asked for.";
    CouponExists = "coupon_exists", 409, "A coupon with that id exists; change it with PUT.";
    CouponUnavailable = "coupon_unavailable", 409, "The coupon is switched off or outside its dates, so no code is issued.";
    CouponBudgetSpent = "coupon_budget_spent", 409, "The coupon's budget (codes issued, or discount granted) is used up.";
    CouponExpired = "coupon_expired", 409, "The coupon code has expired.";
    CouponUsed = "coupon_used", 409, "The coupon code was redeemed on another order.";
    CouponNotYours = "coupon_not_yours", 409, "The coupon code was issued to another member.";
    BelowMinSpend = "below_min_spend", 409, "The order spends less on what the coupon covers than its minimum.";
    LotteryExists = "lottery_exists", 409, "A lottery with that id exists; change it with PUT.";
    LotteryClosed = "lottery_closed", 409, "The lottery is switched off.";
    FlashSaleExists = "flash_sale_exists", 409, "A flash sale with that id exists; change it with PUT.";
    SaleNotOpen = "sale_not_open", 409, "The flash sale is not taking claims now (before or after its window).";
    SoldOut = "sold_out", 409, "The flash sale's stock is all claimed.";
    ClaimExpired = "claim_expired", 409, "The claim was not paid in time; its unit went back on sale.";
    LeaderboardExists = "leaderboard_exists", 409, "A leaderboard with that id exists; change it with PUT.";
    AlreadyDecided = "already_decided", 409, "The award or held referral was decided already, the other way (or was never held).";
    FissionCampaignExists = "fission_campaign_exists", 409, "A fission campaign with that id exists; change it with PUT.";
    CampaignNotOpen = "campaign_not_open", 409, "The fission campaign opens no rounds now (before or after its window).";
    RoundClosed = "round_closed", 409, "The group, help request or bargain is no longer open: full, unlocked, failed or past its deadline.";
    AlreadyJoined = "already_joined", 409, "The member has already joined or helped a round of this campaign.";
    SelfReferral = "self_referral", 409, "A member cannot join, help or refer themselves.";
    CouponNotApplicable = "coupon_not_applicable", 409, "Nothing in the order is something the coupon covers (category, sub-brand, free item, buy N get N).";
    PayloadTooLarge = "payload_too_large", 413, "The body (or one event in a batch) is larger than the limit.";
    MissingField = "missing_field", 422, "A required field is missing.";
    UnknownField = "unknown_field", 422, "A field is not one the request takes.";
    InvalidType = "invalid_type", 422, "A field has the wrong JSON type.";
    InvalidValue = "invalid_value", 422, "A field's value is not allowed.";
    TooLong = "too_long", 422, "A text field is longer than allowed.";
    OutOfRange = "out_of_range", 422, "A number is outside the range allowed (amounts and points have configured maximums).";
    InvalidTimestamp = "invalid_timestamp", 422, "A timestamp is not RFC 3339 with an offset.";
    OccurredAtInFuture = "occurred_at_in_future", 422, "occurred_at is more than five minutes ahead of the server's clock.";
    UnknownChannel = "unknown_channel", 422, "The channel is not one of the brand's channels ([events] channels).";
    UnknownIdentityKind = "unknown_identity_kind", 422, "An identity kind is not one Flywheel knows.";
    InvalidIdentity = "invalid_identity", 422, "An identity value does not normalise (a phone that is not a number, an email without a domain).";
    InvalidAmount = "invalid_amount", 422, "An amount is not a decimal string with at most two decimals.";
    NegativeAmount = "negative_amount", 422, "An amount is negative.";
    UnsupportedCurrency = "unsupported_currency", 422, "The currency is not the brand's.";
    TooManyEvents = "too_many_events", 422, "A batch holds more than 10,000 events.";
    InvalidEvents = "invalid_events", 422, "Some events of a batch are invalid; details lists each by index.";
    BatchRejected = "batch_rejected", 422, "Not applied, because another event of its all-or-nothing batch was refused.";
    UnknownProgramme = "unknown_programme", 422, "The points programme is not one configured.";
    Duplicate = "duplicate", 422, "The same id appears twice in one request (earning rules).";
    InvalidExpression = "invalid_expression", 422, "A segment expression does not parse or check; line and column say where.";
    InvalidTemplate = "invalid_template", 422, "A template names a variable Flywheel does not know, or leaves a '{{' unclosed.";
    InvalidTag = "invalid_tag", 422, "A tag is malformed, its dimension is unknown, or the dimension does not allow the value.";
    InexactExchange = "inexact_exchange", 422, "The points do not convert exactly at the partner's rate.";
    RateLimited = "rate_limited", 429, "The key sent more requests than its role's rate allows; wait Retry-After seconds.";
    Internal = "internal", 500, "Something failed on the server; it was logged.";
    Unavailable = "unavailable", 503, "The database does not answer.";
}

impl ErrorCode {
    /// The code named `name`, if there is one.
    pub fn parse(name: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.as_str() == name)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_snake_case_and_parse_back() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ErrorCode::ALL {
            let name = code.as_str();
            assert!(seen.insert(name), "{name} twice");
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{name}"
            );
            assert_eq!(ErrorCode::parse(name), Some(*code));
            assert!((400..600).contains(&code.status()), "{name}");
        }
    }

    #[test]
    fn only_server_faults_are_5xx() {
        for code in ErrorCode::ALL {
            let server = matches!(code, ErrorCode::Internal | ErrorCode::Unavailable);
            assert_eq!(code.status() >= 500, server, "{code}");
        }
    }
}
