//! `-w` file rotation (`-C`, `-G`, `-W`): the saver fed the frames of a capture made by the
//! test writer, then the files it made read back.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mailtap::capture::file::FileReader;
use mailtap::capture::rotate::{Rotation, Saver};
use mailtap::capture::{LinkType, Timestamp};

use crate::common::capture_writer::{Capture, Format, Link};

/// One captured frame: time, bytes.
type Owned = (Timestamp, Vec<u8>);

/// `sessions` short SMTP sessions, `gap` apart.
fn frames(sessions: usize, gap: Duration) -> Vec<Owned> {
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    cap.set_time(Duration::from_secs(1_796_000_000));
    for i in 0..sessions {
        let mut c = cap.tcp(
            format!("192.0.2.10:{}", 40000 + i).parse().unwrap(),
            "198.51.100.25:25".parse().unwrap(),
        );
        c.handshake();
        c.dialogue_without_starttls();
        c.close();
        cap.advance_time(gap);
    }
    read(&cap.finish()[..])
}

fn read(bytes: &[u8]) -> Vec<Owned> {
    let mut reader = FileReader::new(bytes).unwrap();
    let mut out = Vec::new();
    reader
        .for_each_frame(|f| {
            out.push((f.ts, f.data.to_vec()));
            ControlFlow::Continue(())
        })
        .unwrap();
    out
}

fn save(template: &Path, rotation: Rotation, frames: &[Owned]) {
    let mut saver = Saver::create(template, rotation, LinkType(1), 65535, frames[0].0).unwrap();
    for (ts, data) in frames {
        saver.write(*ts, data, data.len() as u32).unwrap();
    }
    saver.flush().unwrap();
}

fn dir(name: &str) -> PathBuf {
    let dir = crate::common::temp_path(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `-C`: files named as tcpdump names them, none past the size (unless one packet is larger),
/// and together they hold every frame, in order.
#[test]
fn size_rotation_keeps_every_frame_in_files_of_bounded_size() {
    let frames = frames(20, Duration::from_millis(10));
    let dir = dir("rotate-size");
    save(
        &dir.join("cap.pcap"),
        Rotation {
            max_bytes: Some(2_000),
            ..Rotation::default()
        },
        &frames,
    );
    let names = names(&dir);
    assert!(names.len() > 5, "{names:?}");
    let mut again = Vec::new();
    for i in 0..names.len() {
        let name = if i == 0 {
            "cap.pcap".to_string()
        } else {
            format!("cap.pcap{i}")
        };
        let path = dir.join(&name);
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(size <= 2_000, "{name}: {size} bytes");
        let bytes = std::fs::read(&path).unwrap();
        let part = read(&bytes);
        assert!(!part.is_empty(), "{name} holds no frame");
        again.extend(part);
    }
    assert_eq!(
        again, frames,
        "the files together hold every frame, in order"
    );
    // Each file is a capture mailtap reads.
    let out = crate::common::mailtap(&["--format", "json", dir.join("cap.pcap").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
}

/// `-C -W 3`: a ring of three files, zero-padded names; they hold the newest frames.
#[test]
fn size_rotation_with_a_file_count_is_a_ring() {
    let frames = frames(20, Duration::from_millis(10));
    let dir = dir("rotate-ring");
    save(
        &dir.join("cap.pcap"),
        Rotation {
            max_bytes: Some(2_000),
            keep: Some(3),
            ..Rotation::default()
        },
        &frames,
    );
    assert_eq!(names(&dir), ["cap.pcap0", "cap.pcap1", "cap.pcap2"]);
    let mut kept: Vec<Vec<Owned>> = names(&dir)
        .iter()
        .map(|n| read(&std::fs::read(dir.join(n)).unwrap()))
        .collect();
    // The newest file holds the last frame; the three, oldest first, end the capture.
    kept.sort_by_key(|f| f[0].0);
    let tail: Vec<Owned> = kept.concat();
    assert_eq!(&frames[frames.len() - tail.len()..], &tail[..]);
}

/// A packet larger than -C goes in a file of its own: no empty file, nothing lost.
#[test]
fn a_packet_larger_than_the_size_gets_a_file_of_its_own() {
    let frames = frames(2, Duration::from_millis(10));
    let dir = dir("rotate-tiny");
    save(
        &dir.join("cap.pcap"),
        Rotation {
            max_bytes: Some(10),
            ..Rotation::default()
        },
        &frames,
    );
    assert_eq!(names(&dir).len(), frames.len());
}

/// `-G 60` with strftime names (UTC); `-W 2` keeps the two newest.
#[test]
fn time_rotation_names_files_by_their_start_and_keeps_the_newest() {
    // Five sessions, 50 s apart, from 2026-11-30 00:53:20 UTC: 0, 50, 100, 150, 200 s. A file
    // starts with the first packet 60 s or more after the current file's start: at 0, 100, 200.
    let frames = frames(5, Duration::from_secs(50));
    let dir = dir("rotate-time");
    let template = dir.join("cap-%Y%m%d-%H%M%S.pcap");
    save(
        &template,
        Rotation {
            seconds: Some(60),
            ..Rotation::default()
        },
        &frames,
    );
    let all = names(&dir);
    assert_eq!(
        all,
        [
            "cap-20261130-005320.pcap",
            "cap-20261130-005500.pcap",
            "cap-20261130-005640.pcap"
        ]
    );
    let again: Vec<Owned> = all
        .iter()
        .flat_map(|n| read(&std::fs::read(dir.join(n)).unwrap()))
        .collect();
    assert_eq!(again, frames);

    let dir = crate::common::temp_path("rotate-time-keep");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    save(
        &dir.join("cap-%s.pcap"),
        Rotation {
            seconds: Some(60),
            keep: Some(2),
            ..Rotation::default()
        },
        &frames,
    );
    assert_eq!(names(&dir), ["cap-1796000100.pcap", "cap-1796000200.pcap"]);
}
