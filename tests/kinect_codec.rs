//! End-to-end tests of the `kinect-codec` binary on files it writes itself.

use std::process::Command;

/// A 64 x 48 depth-like frame with holes and depths up to 8000 mm, as raw u16 LE bytes.
fn frame_bytes() -> Vec<u8> {
    (0..64 * 48u32)
        .flat_map(|i| {
            let (row, col) = (i / 64, i % 64);
            let depth = if col < 5 && row > 30 {
                0
            } else {
                900 + row * 150 + col * 3 + i % 4
            };
            (depth as u16).to_le_bytes()
        })
        .collect()
}

fn kinect_codec(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kinect-codec"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn every_codec_round_trips_a_file_named_with_its_shape() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scene-0-64x48.u16");
    std::fs::write(&path, frame_bytes()).unwrap();
    let output = kinect_codec(&[path.to_str().unwrap(), "--repeat", "2"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    for codec in ["zstd1", "raw", "rvl", "medans", "medhuf"] {
        let row = stdout
            .lines()
            .find(|line| {
                line.contains("scene-0-64x48.u16") && line.split_whitespace().nth(2) == Some(codec)
            })
            .unwrap_or_else(|| panic!("no row for {codec} in:\n{stdout}"));
        assert!(row.ends_with("exact"), "{row}");
    }
    // Depths up to about 8000 mm: sk2 loses the pixels at 4096 mm and above, and says so.
    let sk2 = stdout.lines().find(|line| line.contains(" sk2 ")).unwrap();
    assert!(sk2.contains("lossy"), "{sk2}");
    assert!(stdout.contains("median ratio per source"));
}

#[test]
fn a_file_of_the_wrong_size_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("short-64x48.u16");
    std::fs::write(&path, [0u8; 100]).unwrap();
    let output = kinect_codec(&[path.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("100 bytes"), "{stderr}");
}

#[test]
fn an_unknown_codec_name_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scene-64x48.u16");
    std::fs::write(&path, frame_bytes()).unwrap();
    let output = kinect_codec(&[path.to_str().unwrap(), "--codec", "lzma"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown codec"), "{stderr}");
}

#[test]
fn a_reader_that_stops_early_ends_the_tool_quietly_with_success() {
    // `kinect-codec DIR | head -1`: the pipe closes while the tool still has rows to print.
    let dir = tempfile::tempdir().unwrap();
    for i in 0..20 {
        std::fs::write(
            dir.path().join(format!("scene-{i}-64x48.u16")),
            frame_bytes(),
        )
        .unwrap();
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_kinect-codec"))
        .args([dir.path().to_str().unwrap(), "--repeat", "20"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut header = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut header).unwrap();
    assert!(header.starts_with("file"), "{header}");
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{:?}: {stderr}", output.status);
    assert!(stderr.is_empty(), "{stderr}");
}
