//! The lifetime-value models against the published CDNOW results: the 2,357-customer
//! sample, calibration ending 1997-09-30, time in weeks. BG/NBD as in Fader, Hardie &
//! Lee (2005), table 1; Gamma-Gamma as `lifetimes` reports on the same summaries.

use flywheel_core::clv::{BgNbd, Customer, GammaGamma, Model, Transaction, summarise};

/// Days since 1970-01-01 of a `YYYYMMDD` date.
fn day(yyyymmdd: &str) -> i64 {
    let d = chrono::NaiveDate::parse_from_str(yyyymmdd, "%Y%m%d").unwrap();
    d.signed_duration_since(chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
        .num_days()
}

fn cdnow_sample() -> Vec<Customer> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/cdnow/CDNOW_sample.txt"
    ))
    .unwrap();
    // master id, sample id, date, CDs, dollars
    let log: Vec<Transaction<u32>> = text
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            Transaction {
                customer: f[1].parse().unwrap(),
                day: day(f[2]),
                amount: f[4].parse().unwrap(),
            }
        })
        .collect();
    summarise(log, day("19970930"), 7.0)
        .into_iter()
        .map(|(_, c)| c)
        .collect()
}

fn close(actual: f64, expected: f64, tolerance: f64) -> bool {
    (actual - expected).abs() <= tolerance
}

#[test]
fn bg_nbd_reproduces_the_papers_parameters() {
    let customers = cdnow_sample();
    assert_eq!(customers.len(), 2357);
    let fit = BgNbd::fit(&customers).unwrap();
    let m = fit.model;
    assert!(close(m.r, 0.243, 0.0005), "{m:?}");
    assert!(close(m.alpha, 4.414, 0.0005), "{m:?}");
    assert!(close(m.a, 0.793, 0.0005), "{m:?}");
    assert!(close(m.b, 2.426, 0.0005), "{m:?}");
    assert!(
        close(fit.log_likelihood, -9582.4, 0.05),
        "{}",
        fit.log_likelihood
    );
}

#[test]
fn gamma_gamma_reproduces_the_published_parameters() {
    let gg = GammaGamma::fit(&cdnow_sample()).unwrap();
    assert!(close(gg.p, 6.25, 0.005), "{gg:?}");
    assert!(close(gg.q, 3.74, 0.005), "{gg:?}");
    assert!(close(gg.gamma, 15.44, 0.005), "{gg:?}");
}

#[test]
fn predictions_behave_like_the_model_says() {
    let customers = cdnow_sample();
    let model = Model::fit(&customers).unwrap();
    // Customer with no repeat purchase: alive for sure under BG/NBD.
    let once = Customer {
        frequency: 0,
        recency: 0.0,
        age: 38.86,
        monetary: 0.0,
    };
    assert_eq!(model.predict(&once, 39.0).p_alive, 1.0);
    // Two customers with the same purchases: the one silent for longer is less alive
    // and expected to buy less.
    let recent = Customer {
        frequency: 5,
        recency: 35.0,
        age: 38.0,
        monetary: 20.0,
    };
    let quiet = Customer {
        recency: 5.0,
        ..recent
    };
    let (r, q) = (model.predict(&recent, 39.0), model.predict(&quiet, 39.0));
    assert!(r.p_alive > q.p_alive && r.expected_purchases > q.expected_purchases);
    assert!(close(
        r.clv,
        r.expected_purchases * r.expected_avg_value,
        1e-9
    ));
    // The paper's figure: a customer with x = 2, tₓ = 30.43, T = 38.86 is expected to
    // make about 1.23 purchases in the next 39 weeks (the published worked example).
    let example = Customer {
        frequency: 2,
        recency: 30.43,
        age: 38.86,
        monetary: 0.0,
    };
    let e = model.predict(&example, 39.0).expected_purchases;
    assert!(close(e, 1.226, 0.01), "{e}");
}

#[test]
fn the_cdnow_population_is_enough_and_a_tiny_one_is_not_used() {
    let customers = cdnow_sample();
    assert!(Model::fit_population(&customers, 50).is_ok());
    // Three members, two of them repeat buyers: a fit exists but means nothing.
    let tiny = [
        Customer {
            frequency: 2,
            recency: 10.0,
            age: 10.0,
            monetary: 30.0,
        },
        Customer {
            frequency: 1,
            recency: 3.0,
            age: 12.0,
            monetary: 20.0,
        },
        Customer {
            frequency: 0,
            recency: 0.0,
            age: 8.0,
            monetary: 0.0,
        },
    ];
    let why = Model::fit_population(&tiny, 50).err().unwrap();
    assert!(
        why.contains("3 members have bought") && why.contains("at least 50"),
        "{why}"
    );
    // Enough buyers, hardly any of whom came back.
    let mostly_once: Vec<Customer> = customers
        .iter()
        .filter(|c| c.frequency == 0)
        .copied()
        .take(200)
        .chain(
            customers
                .iter()
                .filter(|c| c.frequency > 0)
                .copied()
                .take(2),
        )
        .collect();
    let why = Model::fit_population(&mostly_once, 50).err().unwrap();
    assert!(
        why.contains("2 members have bought more than once"),
        "{why}"
    );
}
