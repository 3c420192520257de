//! `flywheel clv` as an analyst runs it, on the CDNOW sample shipped in `fixtures/`:
//! the published parameters, per-customer predictions equal to an independent
//! implementation's, and clear errors for bad files.

use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/cdnow")
        .join(name)
}

/// The sample as the CSV an analyst would export: customer_id,date,amount.
fn sample_csv(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(fixture("CDNOW_sample.txt")).unwrap();
    let mut csv = String::from("customer_id,date,amount\n");
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        csv.push_str(&format!("{},{},{}\n", f[1], f[2], f[4]));
    }
    let path = dir.join("cdnow.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

fn clv(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_flywheel"))
        .arg("clv")
        .args(args)
        .env("FLYWHEEL_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn close(actual: f64, expected: f64, tolerance: f64) -> bool {
    (actual - expected).abs() <= tolerance
}

#[test]
fn fit_reproduces_the_published_cdnow_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let csv = sample_csv(dir.path());
    let (ok, out, err) = clv(&[
        "fit",
        "--transactions",
        csv.to_str().unwrap(),
        "--calibration-end",
        "1997-09-30",
        "--period",
        "week",
        "--json",
    ]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["customers"], 2357);
    let bg = &v["bgnbd"];
    for (name, expected) in [("r", 0.243), ("alpha", 4.414), ("a", 0.793), ("b", 2.426)] {
        let got = bg[name].as_f64().unwrap();
        assert!(
            close(got, expected, 0.0005),
            "{name} = {got}, published {expected}"
        );
    }
    let ll = bg["log_likelihood"].as_f64().unwrap();
    assert!(close(ll, -9582.4, 0.05), "{ll}");
    let gg = &v["gamma_gamma"];
    for (name, expected) in [("p", 6.25), ("q", 3.74), ("gamma", 15.44)] {
        let got = gg[name].as_f64().unwrap();
        assert!(
            close(got, expected, 0.005),
            "{name} = {got}, published {expected}"
        );
    }

    // The text form says the same for people.
    let (ok, out, _) = clv(&[
        "fit",
        "--transactions",
        csv.to_str().unwrap(),
        "--calibration-end",
        "19970930",
    ]);
    assert!(ok);
    assert!(
        out.contains("2357 customers")
            && out.contains("r = 0.2426")
            && out.contains("log-likelihood = -9582.43"),
        "{out}"
    );
}

#[test]
fn predictions_match_an_independent_implementation_customer_by_customer() {
    let dir = tempfile::tempdir().unwrap();
    let csv = sample_csv(dir.path());
    let out = dir.path().join("predictions.csv");
    let (ok, _, err) = clv(&[
        "predict",
        "--transactions",
        csv.to_str().unwrap(),
        "--calibration-end",
        "1997-09-30",
        "--horizon",
        "39",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let ours = std::fs::read_to_string(&out).unwrap();
    let mut lines = ours.lines();
    assert_eq!(
        lines.next().unwrap(),
        "customer_id,frequency,recency,T,p_alive,expected_purchases,expected_avg_value,clv"
    );
    let ours: HashMap<String, Vec<f64>> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].to_string(),
                f[1..].iter().map(|x| x.parse().unwrap()).collect(),
            )
        })
        .collect();
    assert_eq!(ours.len(), 2357);
    let theirs = std::fs::read_to_string(fixture("lifetimes_predictions_39w.csv")).unwrap();
    let mut compared = 0;
    for line in theirs.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let t: Vec<f64> = f[1..].iter().map(|x| x.parse().unwrap()).collect();
        let o = &ours[f[0]];
        // frequency, recency, T, p_alive, expected purchases, expected value (6 decimals)
        for (i, name) in [
            "frequency",
            "recency",
            "T",
            "p_alive",
            "expected_purchases",
            "expected_avg_value",
        ]
        .iter()
        .enumerate()
        {
            assert!(
                close(o[i], t[i], 2e-6 * t[i].abs().max(1.0)),
                "customer {}: {name} {} vs {}",
                f[0],
                o[i],
                t[i]
            );
        }
        assert!(close(o[6], o[4] * o[5], 1e-9 * o[6].abs().max(1.0)));
        compared += 1;
    }
    assert_eq!(compared, 2357);
}

/// The full CDNOW log as distributed: a header and columns separated by runs of spaces.
#[test]
fn space_separated_files_are_read_too() {
    let master = fixture("CDNOW_master.txt");
    let (ok, out, err) = clv(&[
        "fit",
        "--transactions",
        master.to_str().unwrap(),
        "--calibration-end",
        "1997-09-30",
        "--amount-col",
        "dollar_value",
        "--json",
    ]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["customers"], 23570, "{v}");
    assert!(v["gamma_gamma"]["p"].is_f64(), "{v}");
}

#[test]
fn bad_files_are_refused_with_the_line_and_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.csv");
    std::fs::write(&path, "cust;day;value\nA;2024-01-03;10\nB;03/01/2024;5\n").unwrap();
    let file = path.to_str().unwrap();
    let (ok, _, err) = clv(&[
        "fit",
        "--transactions",
        file,
        "--calibration-end",
        "2024-12-31",
    ]);
    assert!(!ok);
    assert!(
        err.contains("no column 'customer_id' (columns: cust, day, value)"),
        "{err}"
    );
    let cols = [
        "--customer-col",
        "cust",
        "--date-col",
        "day",
        "--amount-col",
        "value",
    ];
    let (ok, _, err) = clv(&[
        &[
            "fit",
            "--transactions",
            file,
            "--calibration-end",
            "2024-12-31",
        ][..],
        &cols,
    ]
    .concat());
    assert!(!ok);
    assert!(
        err.contains("line 3: day '03/01/2024' is not YYYY-MM-DD or YYYYMMDD"),
        "{err}"
    );
    let (ok, _, err) = clv(&[
        "fit",
        "--transactions",
        file,
        "--calibration-end",
        "2024-13-01",
    ]);
    assert!(!ok && err.contains("'2024-13-01' is not a date"), "{err}");
    // An amount column that is not there is named, like the others.
    let (ok, _, err) = clv(&[
        "fit",
        "--transactions",
        file,
        "--calibration-end",
        "2024-12-31",
        "--customer-col",
        "cust",
        "--date-col",
        "day",
        "--amount-col",
        "spend",
    ]);
    assert!(!ok);
    assert!(
        err.contains("no column 'spend' (columns: cust, day, value)"),
        "{err}"
    );
}
