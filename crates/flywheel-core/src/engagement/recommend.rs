//! The simple recommendation a template can name (`{{recommended.sku}}`): the best
//! seller of the member's favourite category that they have not bought yet.
//!
//! Best sellers are counted by the store over recent orders (an order counts once per
//! SKU); this file only decides. "Favourite" is the category the member has ordered
//! most often (ties to the name that sorts first); when they already own every best
//! seller there, the next favourite is tried, so a loyal tea drinker is offered cake
//! rather than nothing. No category with an unbought best seller: no recommendation,
//! and the message that needed one is suppressed with that reason rather than sent
//! with a hole in it.

use std::collections::BTreeMap;

/// The template variables this module fills.
pub const VARIABLES: [&str; 2] = ["recommended.sku", "recommended.category"];

/// Best-selling SKUs per category, best first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BestSellers {
    pub by_category: BTreeMap<String, Vec<String>>,
}

/// What a member is offered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recommendation {
    pub sku: String,
    pub category: String,
}

/// The member's categories, favourite first: by orders, then by name.
pub fn favourite_categories(categories: &BTreeMap<String, u32>) -> Vec<&str> {
    let mut ranked: Vec<(&str, u32)> = categories.iter().map(|(c, n)| (c.as_str(), *n)).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    ranked.into_iter().map(|(c, _)| c).collect()
}

/// The recommendation for a member who ordered `categories` (orders per category) and
/// `bought` (orders per SKU), or None.
pub fn recommend(
    categories: &BTreeMap<String, u32>,
    bought: &BTreeMap<String, u32>,
    best: &BestSellers,
) -> Option<Recommendation> {
    favourite_categories(categories)
        .into_iter()
        .find_map(|category| {
            let skus = best.by_category.get(category)?;
            let sku = skus.iter().find(|s| !bought.contains_key(*s))?;
            Some(Recommendation {
                sku: sku.clone(),
                category: category.to_owned(),
            })
        })
}

/// Whether a template text names a variable only a recommendation fills.
pub fn wanted(variables: &[String]) -> bool {
    variables.iter().any(|v| VARIABLES.contains(&v.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
        pairs.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
    }

    fn best() -> BestSellers {
        let mut b = BestSellers::default();
        b.by_category
            .insert("tea".into(), vec!["OOLONG".into(), "PUER".into()]);
        b.by_category
            .insert("cake".into(), vec!["MOONCAKE".into(), "TART".into()]);
        b
    }

    #[test]
    fn the_best_seller_of_the_favourite_category_not_yet_bought() {
        let cats = counts(&[("tea", 5), ("cake", 1)]);
        let r = recommend(&cats, &counts(&[("OOLONG", 4)]), &best()).unwrap();
        assert_eq!((r.sku.as_str(), r.category.as_str()), ("PUER", "tea"));
        let r = recommend(&cats, &counts(&[("LATTE", 1)]), &best()).unwrap();
        assert_eq!(r.sku, "OOLONG");
    }

    #[test]
    fn a_member_who_owns_every_best_seller_is_offered_the_next_favourite() {
        let cats = counts(&[("tea", 5), ("cake", 1)]);
        let r = recommend(&cats, &counts(&[("OOLONG", 1), ("PUER", 2)]), &best()).unwrap();
        assert_eq!((r.sku.as_str(), r.category.as_str()), ("MOONCAKE", "cake"));
        let all = counts(&[("OOLONG", 1), ("PUER", 1), ("MOONCAKE", 1), ("TART", 1)]);
        assert_eq!(recommend(&cats, &all, &best()), None);
    }

    #[test]
    fn ties_go_to_the_name_first_in_order_and_no_purchases_means_no_offer() {
        assert_eq!(
            favourite_categories(&counts(&[("tea", 2), ("cake", 2), ("milk", 1)])),
            vec!["cake", "tea", "milk"]
        );
        assert_eq!(recommend(&BTreeMap::new(), &BTreeMap::new(), &best()), None);
    }
}
