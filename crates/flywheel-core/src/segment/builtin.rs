//! The segments every brand starts with, from the seeds (003, 004): written in the
//! language like any other, so a brand reads, edits or deletes them as its own.

/// (id, name, expression).
pub const BUILTIN: [(&str, &str, &str); 9] = [
    (
        "very_active",
        "Very active (很活跃)",
        "interactions_within(30d) >= 8 or purchases_within(30d) >= 3",
    ),
    (
        "more_spending_potential",
        "More spending potential (更多消费潜力)",
        "purchase_count >= 2 and p_alive >= 0.6 and rfm.m <= 2",
    ),
    (
        "bought_last_month",
        "Bought in the last month (上月购买)",
        "purchases_within(30d) >= 1",
    ),
    (
        "not_seen_half_year",
        "Not seen for half a year (半年未见)",
        "days_since_last_seen >= 180",
    ),
    (
        "birthday_this_week",
        "Birthday within 7 days (七天内生日)",
        "birthday_within(7d)",
    ),
    (
        "complaining_now",
        "Complaining now (正在投诉)",
        "open_complaint",
    ),
    (
        "potential_super_users",
        "Potential super users (潜在超级用户)",
        "(stage >= strong and super_user >= 0.5) or complainer_won_back",
    ),
    (
        "complainers_won_back",
        "Complainers won back (投诉后复购)",
        "complainer_won_back",
    ),
    (
        "influencers",
        "Influencers by reach (影响力)",
        "followers >= 10000 or (shares >= 10 and referrals_converted >= 1)",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::{Language, compile};

    #[test]
    fn every_builtin_compiles_under_the_shortest_sensible_window() {
        for (id, _, text) in BUILTIN {
            compile(text, &Language::new(30)).unwrap_or_else(|e| panic!("{id}: {e}"));
        }
    }
}
