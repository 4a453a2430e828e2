#!/usr/bin/env bash
# Regenerates the seed corpora in fuzz/corpus/<target>/ from the repository's captures: the
# dialogues of tests/mailtap/hostile.rs (every file format and link type), the TLS vectors in
# tests/data/tls/, and the fixtures/*.pcap* that are small. Inputs the fuzzer found worth
# keeping (crashes turned regression tests) are named regress-*; they are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
corpus="$PWD/fuzz/corpus"
mkdir -p "$corpus"
find "$corpus" -type f ! -name 'regress-*' -delete
MAILTAP_FUZZ_SEEDS="$corpus" CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}" \
    cargo test --quiet --test mailtap -- --ignored --exact hostile::write_fuzz_seeds >/dev/null
for dir in "$corpus"/*/; do
    printf '%-12s %3d files %6d KiB\n' "$(basename "$dir")" "$(find "$dir" -type f | wc -l)" \
        "$(du -sk "$dir" | cut -f1)"
done
