//! Golden tests: captures made by real mail software (fixtures/generate.sh), with the verdicts
//! and findings the generator recorded in fixtures/EXPECTED.tsv.

use crate::common::{expected, repo};

#[test]
fn every_fixture_gets_its_expected_verdict_and_findings() {
    let dir = repo().join("fixtures");
    let table = expected::load(&dir.join("EXPECTED.tsv"));
    assert!(!table.is_empty());
    let failures = expected::check(&dir, &table);
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
