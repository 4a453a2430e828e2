//! Golden tests: captures made by real mail software (fixtures/generate.sh), with the verdicts
//! and findings the generator recorded in fixtures/EXPECTED.tsv.

use crate::common::{expected, repo};

#[test]
fn every_fixture_gets_its_expected_verdict_and_findings() {
    expected::assert_folder(&repo().join("fixtures"));
}
