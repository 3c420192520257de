//! The OpenAPI document (`/openapi.json`) and browsable docs (`/docs`), served from assets
//! compiled into the binary, so they work with no internet.

use crate::activity_views;
use crate::benefit_views;
use crate::engagement_views;
use crate::fission_views;
use crate::honours_views;
use crate::idea_views;
use crate::marketing_views;
use crate::membership_views;
use crate::metrics;
use crate::points_views;
use crate::report_views;
use crate::routes::{
    activities, audit, benefits, campaigns, card, care, consent, content, coupons, events, finance,
    fission, flash_sales, groups, health, ideas, identity, journeys, kpis, leaderboards, lotteries,
    members, membership_report, memberships, owners, partner_codes, points, privacy, products,
    programmes, protocol, queues, referrals, rewards, scores, segments, service_report,
    service_teams, share_links, stats, suppressions, tags, tasks, tickets, tracking, wechat,
};
use crate::score_views;
use crate::segment_views;
use crate::service_views;
use crate::state::AppState;
use crate::stats_views;
use crate::tracking_views;
use crate::views;
use axum::Router;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

#[derive(OpenApi)]
#[openapi(
    info(title = "Flywheel", description = "Super-user relationship engine: ingest, identity resolution, relationship stages, points, scores, memberships."),
    paths(
        health::health,
        events::post_event, events::post_batch,
        protocol::batch, protocol::identify, protocol::track, protocol::page, protocol::screen, protocol::alias, protocol::group, protocol::mapping, protocol::rejected,
        wechat::official_account_check, wechat::official_account_push, wechat::work_check, wechat::work_push,
        members::member, members::lookup, members::timeline, members::stages,
        identity::conflicts, identity::dismiss, identity::merge,
        stats::stages, stats::overview, stats::stage_flows, stats::rfm, stats::points, stats::cohorts, stats::referrals, stats::sources, stats::contribution, stats::personas, stats::points_cost, kpis::month, kpis::set_target, stats::entries,
        points::get_rules, points::put_rules, points::simulate, points::member_points, points::member_ledger,
        points::transfer, points::adjust, points::sweep, finance::report, finance::trial_balance, finance::settlement,
        rewards::list_rewards, rewards::create_reward, rewards::get_reward, rewards::put_reward,
        rewards::redeem, rewards::get_redemption, rewards::cancel,
        rewards::list_partners, rewards::create_partner, rewards::exchange,
        scores::member_scores, scores::super_users, scores::recompute, scores::export,
        audit::audit, privacy::export, privacy::erase, metrics::render,
        programmes::list_programmes, programmes::get_programme, programmes::put_programme,
        memberships::buy, memberships::cancel, memberships::member_memberships, memberships::set_tier, memberships::member_tiers, card::member_card, card::card_link, membership_report::report,
        benefits::list_benefits, benefits::create_benefit, benefits::get_benefit, benefits::put_benefit,
        benefits::get_tier_benefits, benefits::put_tier_benefits, benefits::member_benefits, benefits::use_benefit,
        benefits::notices, partner_codes::load_codes, partner_codes::settlement,
        segments::list_segments, segments::create_segment, segments::get_segment, segments::put_segment,
        segments::delete_segment, segments::segment_members, segments::segment_changes, segments::export,
        segments::preview, segments::member_segments, segments::influencers,
        tags::list_tags, tags::put_dimension, tags::member_tags, tags::add_tag, tags::remove_tag,
        content::list_content, content::create_content, content::get_content, content::put_content,
        content::delete_content, content::preview, consent::member_consent, consent::set_consent,
        journeys::list_journeys, journeys::get_journey, journeys::create_journey,
        journeys::put_journey, journeys::member_journeys, journeys::outbox,
        tracking::follow_link, tracking::opened, journeys::journey_performance,
        content::content_performance, suppressions::list, suppressions::suppress,
        suppressions::unsuppress, campaigns::list_campaigns, campaigns::get_campaign,
        campaigns::create_campaign, campaigns::put_campaign, campaigns::results,
        queues::list_queues, queues::get_queue, queues::put_queue, queues::delete_queue,
        queues::list_staff, queues::save_staff, tickets::list_tickets, tickets::member_tickets,
        tickets::get_ticket, tickets::open_ticket, tickets::respond, tickets::resolve,
        tickets::reopen, tickets::comment, tickets::assign, service_report::report,
        service_teams::list_templates, service_teams::get_template, service_teams::put_template,
        service_teams::member_team, service_teams::add_note, care::today,
        owners::get_owner, owners::put_owner, owners::delete_owner, owners::owned_members,
        owners::contact, owners::gift, owners::wecom_contacts, groups::list_groups,
        groups::name_group, activities::put_activity, activities::list_activities,
        activities::get_activity, activities::report, activities::invite, activities::list_rsvps,
        activities::rsvp, activities::cancel_rsvp, activities::check_in, ideas::list_ideas,
        ideas::get_idea, ideas::send_idea, ideas::decide,
        products::list_products, products::get_product, products::put_product,
        products::import_products, coupons::list_coupons, coupons::get_coupon,
        coupons::create_coupon, coupons::put_coupon, coupons::issue, coupons::redeem,
        coupons::member_coupons, flash_sales::list_sales, flash_sales::get_sale,
        flash_sales::create_sale, flash_sales::put_sale, flash_sales::claim,
        flash_sales::get_claim, flash_sales::pay, lotteries::list_lotteries,
        lotteries::get_lottery, lotteries::create_lottery, lotteries::put_lottery,
        lotteries::draw, lotteries::get_draw, fission::list_campaigns, fission::get_campaign,
        fission::create_campaign, fission::put_campaign, fission::list_rounds, fission::open_round,
        fission::get_round, fission::join_round, coupons::gift, leaderboards::list_leaderboards,
        leaderboards::get_leaderboard, leaderboards::create_leaderboard,
        leaderboards::put_leaderboard, leaderboards::propose_awards, leaderboards::list_awards,
        leaderboards::decide_award, leaderboards::member_honours, leaderboards::marketing_report,
        referrals::list_referrals, referrals::get_referral, referrals::review,
        tasks::member_tasks,
        share_links::create_link, share_links::list_links, share_links::get_link, share_links::follow_share,
    ),
    components(schemas(
        tracking_views::TrackingAnswer, tracking_views::TrackingCallInput, tracking_views::TrackingBatchInput,
        tracking_views::TrackMappingView, tracking_views::TrackingMappingView, tracking_views::RejectedCallView, tracking_views::RejectedCallList,
        views::EventAnswer, views::BatchAnswer, views::MemberDoc, views::IdentityView, views::Timeline,
        views::TimelineEvent, views::StageHistory, views::TransitionView, views::ConflictList, views::ConflictView,
        stats_views::OverviewStats, stats_views::StageFlows, stats_views::StageFlowMonth, stats_views::FlowView,
        stats_views::RfmGrid, stats_views::RfmCell, stats_views::PointsMonths, stats_views::PointsMonth,
        stats_views::Cohorts, stats_views::CohortView, stats_views::RetentionPoint, stats_views::ReferralMonths, stats_views::ReferralMonth, stats_views::SourceReport, stats_views::SourceRow, views::MemberSourceView,
        stats_views::ContributionView, stats_views::GroupView, stats_views::ConcentrationPoint,
        stats_views::PersonaView, stats_views::CountView, stats_views::PointsCost, stats_views::PointsCostMonth,
        stats_views::KpiTargetInput, stats_views::KpiView, stats_views::KpiMonth,
        stats_views::EntriesView, stats_views::EntryView,
        membership_views::CardLinkView,
        views::StageStats, views::Health, views::EventInput, views::BatchInput, views::ErrorBody,
        views::ErrorDetail, views::AuditPage, views::AuditEntryView, views::AuditActorView,
        views::MemberExportView, views::PointsExportView, views::ErasureView, views::ReasonInput,
        points_views::PointsView, points_views::LotView, points_views::ExpiryView, points_views::LedgerView,
        points_views::LedgerEntryView, points_views::SourceView, points_views::TaskView, points_views::TaskProgressView, points_views::TaskList, points_views::RewardView, points_views::RedemptionView,
        points_views::TransferView, points_views::PartnerView, points_views::ExchangeView, points_views::AdjustmentView,
        report_views::RulesView, report_views::RuleVersionView, report_views::PutRulesInput, report_views::StoredRulesView,
        report_views::SimulateInput, report_views::SimulationView, report_views::SimulatedLine, report_views::PointsSweepView,
        report_views::PointsReportView, report_views::TrialBalanceView, report_views::AccountBalanceView,
        report_views::TrialGroupView, report_views::SettlementView, report_views::SettlementRowView,
        report_views::RewardList, report_views::PartnerList,
        report_views::MembershipReportView, report_views::ProgrammeFiguresView, report_views::TierFiguresView,
        score_views::MemberScoresView, score_views::ScoreView, score_views::PartView, score_views::SuperUserScoreView,
        score_views::InfluenceView, score_views::ReferralTreeView, score_views::RfmView, score_views::ClvView,
        score_views::SuperUserList, score_views::SuperUserItem, score_views::RecomputeView, score_views::ModelView,
        score_views::BgNbdView, score_views::GammaGammaView, score_views::ClvFitView,
        points::TransferBody, points::AdjustBody, rewards::RewardBody, rewards::RedeemBody, rewards::PartnerBody,
        rewards::ExchangeBody, identity::MergeInput,
        membership_views::ProgrammeInput, membership_views::TierInput, membership_views::ThresholdInput,
        membership_views::MeasureInput, membership_views::TermInput, membership_views::DowngradeInput,
        membership_views::DowngradePolicyInput, membership_views::EligibilityInput,
        membership_views::ProgrammeKindInput, membership_views::ProgrammeView,
        membership_views::ProgrammeVersionView, membership_views::ProgrammeList,
        membership_views::PaymentInput, membership_views::MembershipInput, membership_views::PaymentView,
        membership_views::PurchaseView, membership_views::MembershipView, membership_views::MembershipsView,
        membership_views::ProgressView, membership_views::RetentionView,
        membership_views::CardView, membership_views::CardTierView, membership_views::CardPointsView,
        membership_views::TierChangeView, membership_views::TierHistoryView, membership_views::ManualTierInput,
        benefit_views::ScopeInput, benefit_views::PeriodInput, benefit_views::LimitInput, benefit_views::BenefitInput,
        benefit_views::BenefitView, benefit_views::BenefitList, benefit_views::TierBenefitsInput,
        benefit_views::TierBenefitsView, benefit_views::HeldBenefitView, benefit_views::MemberBenefitsView,
        benefit_views::UseInput, benefit_views::UseView, benefit_views::NoticeView, benefit_views::NoticeList,
        benefit_views::PartnerInput, benefit_views::CodeStockView, benefit_views::CodesInput,
        benefit_views::CodesLoadedView, benefit_views::CodeSettlementRowView, benefit_views::CodeSettlementView,
        segment_views::SegmentInput, segment_views::SegmentView, segment_views::SegmentList,
        segment_views::SegmentMemberView, segment_views::SegmentMembersPage, segment_views::ChangeView,
        segment_views::ChangesPage, segment_views::MemberSegmentView, segment_views::MemberSegmentsView,
        segment_views::PreviewInput, segment_views::PreviewView, segment_views::TagInput,
        segment_views::MemberTagView, segment_views::MemberTagsView, segment_views::TagCountView,
        segment_views::DimensionInput, segment_views::DimensionView, segment_views::TagsView,
        segment_views::InfluencerView, segment_views::InfluencerList,
        engagement_views::ContentInput, engagement_views::ContentView, engagement_views::ContentList,
        engagement_views::ContentPreviewInput, engagement_views::ContentPreviewView,
        engagement_views::ConsentInput, engagement_views::ConsentView, engagement_views::ConsentsView,
        engagement_views::JourneyInput, engagement_views::JourneyView, engagement_views::JourneyList,
        engagement_views::MemberJourneyView, engagement_views::MemberJourneysView,
        engagement_views::OutboxMessageView, engagement_views::OutboxView,
        engagement_views::PerformanceView, engagement_views::SuppressionInput,
        engagement_views::SuppressionView, engagement_views::SuppressionList,
        engagement_views::CampaignInput, engagement_views::CampaignView,
        engagement_views::CampaignList, engagement_views::VariantResultView,
        engagement_views::CampaignResultsView,
        service_views::WorkingHoursInput, service_views::QueueInput, service_views::WorkingHoursView,
        service_views::QueueView, service_views::QueueList, service_views::TicketInput,
        service_views::TicketNoteInput, service_views::TicketAssignInput, service_views::TicketNoteView,
        service_views::TicketView, service_views::TicketList, service_views::StaffInput,
        service_views::StaffView, service_views::StaffList, service_views::QueueFiguresView,
        service_views::ServiceReportView, service_views::FunnelView, service_views::DepositFunnelsView,
        service_views::TeamTemplateInput,
        service_views::TeamTemplateView, service_views::TeamTemplateList,
        service_views::TeamPlaceView, service_views::TeamNoteView, service_views::ServiceTeamView,
        service_views::TeamNoteInput, service_views::CareItemView, service_views::CareList,
        service_views::OwnerInput, service_views::WecomContactView, service_views::WecomContactsView, service_views::WecomGroupView, service_views::WecomGroupsView, service_views::WecomGroupInput, activity_views::ChallengeInput, activity_views::ActivityInput, activity_views::ActivityDefinition, activity_views::ActivityView, activity_views::ActivitiesView, activity_views::RsvpInput, activity_views::RsvpView, activity_views::RsvpsView, activity_views::CancelledView, activity_views::CheckInInput, activity_views::CheckInView, activity_views::InvitationInput, activity_views::InvitationView, activity_views::StageMoveView, activity_views::ActivityReportView, idea_views::IdeaView, idea_views::IdeasView, idea_views::IdeaInput, idea_views::IdeaDecisionInput, idea_views::IdeaDecisionView, service_views::OwnerView, service_views::OwnedMemberView,
        service_views::OwnedMembersView, service_views::ContactInput, service_views::ContactView,
        service_views::GiftInput, service_views::GiftView,
        marketing_views::ProductInput, marketing_views::ProductView, marketing_views::ProductList,
        marketing_views::ProductImportView, marketing_views::CouponInput, marketing_views::CouponView,
        marketing_views::CouponList, marketing_views::IssueInput, marketing_views::CodeView,
        marketing_views::SegmentIssueView, marketing_views::IssueAnswer, marketing_views::CodeList,
        marketing_views::OrderLineInput, marketing_views::RedeemCouponInput,
        marketing_views::PriceInput, marketing_views::FlashSaleInput, marketing_views::PriceView,
        marketing_views::FlashSaleView, marketing_views::FlashSaleList, marketing_views::ClaimInput,
        marketing_views::ClaimView, marketing_views::PayInput, marketing_views::PrizeInput,
        marketing_views::LotteryInput, marketing_views::PrizeView, marketing_views::LotteryView,
        marketing_views::LotteryList, marketing_views::DrawInput, marketing_views::DrawView,
        fission_views::FissionCampaignInput, fission_views::FissionCampaignView,
        fission_views::FissionCampaignList, fission_views::OpenRoundInput, fission_views::JoinInput,
        fission_views::JoinView, fission_views::GroupOrderView, fission_views::RoundView, fission_views::ReferralView, fission_views::ReferralList, fission_views::ReferralReviewInput,
        fission_views::ShareLinkInput, fission_views::ShareCountsView, fission_views::PaidMilestoneView, fission_views::ShareLinkView, fission_views::ShareLinkList,
        fission_views::RoundList, fission_views::JoinAnswer, marketing_views::CouponGiftInput,
        honours_views::LeaderboardInput, honours_views::StandingView, honours_views::LeaderboardView,
        honours_views::LeaderboardList, honours_views::ProposeAwardsInput, honours_views::AwardView,
        honours_views::AwardList, honours_views::AwardDecisionInput, honours_views::BadgeView,
        honours_views::HonoursView, honours_views::CampaignReportRow, honours_views::CampaignReport,
    )),
    modifiers(&BearerAuth, &ErrorAnswers),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        // The tracking protocol's libraries send the key as the Basic user name.
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
    }
}

/// Declares, on every operation, the error answers it can give — 401, 403 and 429 for
/// the routes behind a key; 400, 408, 413 and 422 for those with a body; 400 for those
/// with parameters; 405 for another method on the path; 500 — and gives every error
/// answer the one error body (`ErrorBody`), so the document matches what the server
/// sends and clients can rely on it.
struct ErrorAnswers;

impl Modify for ErrorAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{Content, Ref, RefOr, Response, ResponseBuilder};
        let error_body = || {
            ResponseBuilder::new()
                .content(
                    "application/json",
                    Content::new(Some(Ref::from_schema_name("ErrorBody"))),
                )
                .build()
                .content
        };
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in operations.into_iter().flatten() {
                let keyed = op.security.as_ref().is_some_and(|s| !s.is_empty());
                let has_body = op.request_body.is_some();
                let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
                let mut standard: Vec<(&str, &str)> = vec![
                    (
                        "405",
                        "method_not_allowed: the path does not take that method",
                    ),
                    (
                        "500",
                        "internal: something failed on the server; it was logged",
                    ),
                ];
                if keyed {
                    standard.extend([
                        ("401", "unauthorized: no key, or an unknown or revoked one"),
                        ("403", "forbidden: the key's role may not do this"),
                        (
                            "429",
                            "rate_limited: the key sent more than its role's rate; see Retry-After",
                        ),
                    ]);
                }
                if has_body {
                    standard.extend([
                        ("400", "malformed_json: the body is not JSON"),
                        ("408", "request_timeout: the body did not arrive in time"),
                        ("413", "payload_too_large: the body is larger than the limit"),
                        ("422", "The body is invalid: error.field names the field, error.details lists every problem"),
                    ]);
                }
                if has_params {
                    standard.extend([
                        ("400", "invalid_query, invalid_cursor or invalid_member_id"),
                        ("422", "A parameter names something unknown (a programme, an identity kind) or an invalid value"),
                    ]);
                }
                for (status, description) in standard {
                    op.responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| RefOr::T(Response::new(description)));
                }
                for (status, response) in op.responses.responses.iter_mut() {
                    if let RefOr::T(response) = response
                        && !status.starts_with('2')
                        && response.content.is_empty()
                    {
                        response.content = error_body();
                    }
                }
            }
        }
    }
}

pub fn router() -> Router<AppState> {
    Router::from(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
}

#[cfg(test)]
mod tests {
    /// The OpenAPI document keys schemas by their type's name alone, so two body types
    /// of one name would silently describe each other's fields (a member's `source`
    /// once took the ledger entry's): every type deriving `ToSchema` is named once.
    #[test]
    fn every_schema_name_is_used_once() {
        fn walk(dir: &std::path::Path, out: &mut Vec<(String, String)>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    let mut derives_schema = false;
                    for line in text.lines().map(str::trim) {
                        if line.starts_with("#[derive(") {
                            derives_schema = line.contains("ToSchema");
                        } else if derives_schema
                            && let Some(rest) = line
                                .strip_prefix("pub struct ")
                                .or_else(|| line.strip_prefix("pub enum "))
                        {
                            let name: String = rest
                                .chars()
                                .take_while(|c| c.is_alphanumeric() || *c == '_')
                                .collect();
                            out.push((name, path.display().to_string()));
                            derives_schema = false;
                        } else if !line.starts_with("#[") && !line.starts_with("///") {
                            derives_schema = false;
                        }
                    }
                }
            }
        }
        let mut found = Vec::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut found,
        );
        assert!(found.len() > 100, "the walk found the body types");
        found.sort();
        let twice: Vec<_> = found.windows(2).filter(|w| w[0].0 == w[1].0).collect();
        assert!(twice.is_empty(), "schema names used twice: {twice:?}");
    }
}
