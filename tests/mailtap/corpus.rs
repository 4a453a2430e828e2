//! The outside check: public captures from other projects' test suites, with the verdict a
//! human analyst gives each session (../shared/corpus/EXPECTED.tsv).

use crate::common::{corpus, expected};

#[test]
fn every_corpus_capture_gets_the_analysts_verdict() {
    let Some(dir) = corpus() else {
        eprintln!("skipped: ../shared/corpus is not present beside the repository");
        return;
    };
    expected::assert_folder(&dir);
}
