//! Personas (seed 001: who the people of a stage or a segment are): their members by
//! gender, age band, city and occupation, and a sentence a marketing manager can read,
//! written from those figures alone.

/// One value of a field and how many members have it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Count {
    pub value: String,
    pub members: i64,
}

/// A group's members by profile field, largest first; `unknown` counts members without
/// the field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Persona {
    pub members: i64,
    pub genders: Vec<Count>,
    pub age_bands: Vec<Count>,
    pub cities: Vec<Count>,
    pub occupations: Vec<Count>,
}

/// The age bands, youngest first.
pub const AGE_BANDS: [&str; 6] = [
    "under 18",
    "18–24",
    "25–34",
    "35–44",
    "45–54",
    "55 and over",
];

/// The band of someone born in `birth_year`, in `year`.
pub fn age_band(birth_year: i32, year: i32) -> &'static str {
    match year - birth_year {
        ..18 => AGE_BANDS[0],
        18..=24 => AGE_BANDS[1],
        25..=34 => AGE_BANDS[2],
        35..=44 => AGE_BANDS[3],
        45..=54 => AGE_BANDS[4],
        _ => AGE_BANDS[5],
    }
}

/// `counts` largest first (ties by value), so summaries and tables read alike.
pub fn ranked(mut counts: Vec<Count>) -> Vec<Count> {
    counts.sort_by(|a, b| {
        b.members
            .cmp(&a.members)
            .then_with(|| a.value.cmp(&b.value))
    });
    counts
}

fn pct(n: i64, of: i64) -> f64 {
    if of > 0 {
        n as f64 * 100.0 / of as f64
    } else {
        0.0
    }
}

impl Persona {
    /// "412 members: mostly women (62%), most aged 25–34 (41%), in Shanghai (30%) and
    /// Hangzhou (12%); the largest occupation is designer (18%)." Fields nobody filled
    /// in are left out; a share under a quarter is called "the largest", not "mostly".
    pub fn summary(&self) -> String {
        if self.members == 0 {
            return "Nobody is in this group yet.".to_owned();
        }
        let known = |list: &[Count]| -> Vec<Count> {
            list.iter()
                .filter(|c| c.value != "unknown")
                .cloned()
                .collect()
        };
        let mut parts = Vec::new();
        if let Some(g) = known(&self.genders).first() {
            let share = pct(g.members, self.members);
            let who = match g.value.as_str() {
                "female" => "women",
                "male" => "men",
                other => other,
            };
            parts.push(if share > 50.0 {
                format!("mostly {who} ({share:.0}%)")
            } else {
                format!("{who} the largest part ({share:.0}%)")
            });
        }
        if let Some(a) = known(&self.age_bands).first() {
            parts.push(format!(
                "most often aged {} ({:.0}%)",
                a.value,
                pct(a.members, self.members)
            ));
        }
        let cities = known(&self.cities);
        match cities.as_slice() {
            [] => {}
            [one] => parts.push(format!(
                "in {} ({:.0}%)",
                one.value,
                pct(one.members, self.members)
            )),
            [one, two, ..] => parts.push(format!(
                "in {} ({:.0}%) and {} ({:.0}%)",
                one.value,
                pct(one.members, self.members),
                two.value,
                pct(two.members, self.members)
            )),
        }
        let mut text = format!(
            "{} member{}",
            self.members,
            if self.members == 1 { "" } else { "s" }
        );
        if !parts.is_empty() {
            text.push_str(": ");
            text.push_str(&parts.join(", "));
        }
        if let Some(o) = known(&self.occupations).first() {
            text.push_str(&format!(
                "; the largest occupation is {} ({:.0}%)",
                o.value,
                pct(o.members, self.members)
            ));
        }
        text.push('.');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(value: &str, members: i64) -> Count {
        Count {
            value: value.into(),
            members,
        }
    }

    #[test]
    fn ages_fall_in_bands() {
        assert_eq!(age_band(2010, 2026), "under 18");
        assert_eq!(age_band(2008, 2026), "18–24");
        assert_eq!(age_band(1992, 2026), "25–34");
        assert_eq!(age_band(1950, 2026), "55 and over");
    }

    #[test]
    fn the_summary_is_written_from_the_figures() {
        let p = Persona {
            members: 100,
            genders: ranked(vec![c("male", 38), c("female", 62)]),
            age_bands: ranked(vec![c("25–34", 41), c("unknown", 30), c("35–44", 29)]),
            cities: ranked(vec![c("Shanghai", 30), c("Hangzhou", 12), c("unknown", 58)]),
            occupations: ranked(vec![c("designer", 18), c("unknown", 70), c("teacher", 12)]),
        };
        assert_eq!(
            p.summary(),
            "100 members: mostly women (62%), most often aged 25–34 (41%), in Shanghai (30%) and Hangzhou (12%); the largest occupation is designer (18%)."
        );
        let even = Persona {
            members: 10,
            genders: ranked(vec![c("female", 4), c("male", 4), c("unknown", 2)]),
            ..Persona::default()
        };
        assert_eq!(even.summary(), "10 members: women the largest part (40%).");
        assert_eq!(Persona::default().summary(), "Nobody is in this group yet.");
    }
}
