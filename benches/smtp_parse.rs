//! The SMTP line parsers (`mailtap::smtp::parse`): every line of a plaintext dialogue goes
//! through one of them.
//!
//! `cargo bench --bench smtp_parse`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mailtap::smtp::parse;

const REPLIES: &[&[u8]] = &[
    b"220 mx.example.net ESMTP Postfix (Debian/GNU)",
    b"250-mx.example.net",
    b"250-PIPELINING",
    b"250-SIZE 10240000",
    b"250-STARTTLS",
    b"250-XXXXXXXA",
    b"250-ENHANCEDSTATUSCODES",
    b"250 CHUNKING",
    b"220 2.0.0 Ready to start TLS",
    b"454 4.7.0 TLS not available due to local problem",
    b"354 End data with <CR><LF>.<CR><LF>",
    b"250 2.0.0 Ok: queued as 4Tq1fY2kQ3z9",
];

const COMMANDS: &[&[u8]] = &[
    b"EHLO client.example.org",
    b"STARTTLS",
    b"staRttLs",
    b"MAIL FROM:<sender@example.org> SIZE=2048",
    b"RCPT TO:<user@example.net>",
    b"DATA",
    b"BDAT 1024 LAST",
    b"QUIT",
    b"XXXXXXXX",
];

const KEYWORDS: &[&[u8]] = &[
    b"PIPELINING",
    b"SIZE 10240000",
    b"STARTTLS",
    b"XXXXXXXA",
    b"AUTH PLAIN LOGIN",
    b"8BITMIME",
];

fn bytes(lines: &[&[u8]]) -> u64 {
    lines.iter().map(|l| l.len() as u64).sum()
}

fn parsers(c: &mut Criterion) {
    let mut g = c.benchmark_group("smtp::parse");
    g.throughput(Throughput::Bytes(bytes(REPLIES)));
    g.bench_function("reply_line (12 lines)", |b| {
        b.iter(|| {
            for line in REPLIES {
                black_box(parse::reply_line(black_box(line)));
            }
        })
    });
    g.bench_function("enhanced_code (12 reply texts)", |b| {
        b.iter(|| {
            for line in REPLIES {
                black_box(parse::enhanced_code(black_box(&line[4.min(line.len())..])));
            }
        })
    });
    g.throughput(Throughput::Bytes(bytes(COMMANDS)));
    g.bench_function("command_line (9 lines)", |b| {
        b.iter(|| {
            for line in COMMANDS {
                black_box(parse::command_line(black_box(line)));
            }
        })
    });
    g.bench_function("is_masked_command (9 lines)", |b| {
        b.iter(|| {
            for line in COMMANDS {
                black_box(parse::is_masked_command(black_box(line)));
            }
        })
    });
    g.throughput(Throughput::Bytes(bytes(KEYWORDS)));
    g.bench_function("ehlo_keyword + is_masked_keyword (6 keywords)", |b| {
        b.iter(|| {
            for text in KEYWORDS {
                if let Some((keyword, _)) = parse::ehlo_keyword(black_box(text)) {
                    black_box(parse::is_masked_keyword(keyword));
                }
            }
        })
    });
    g.finish();
}

criterion_group!(benches, parsers);
criterion_main!(benches);
