//! MEDHUF as the spec describes it: `tests/interop/medhuf_decode.py`, a decoder written from
//! docs/codecs.md alone, must decode what sk2-proto encodes to the same pixels. This checks the
//! page, not only the code: a rule the page left out or got wrong makes the script disagree.

use std::path::Path;
use std::process::Command;

use sk2_mock::{MockConfig, MockKinect, MockMode};
use sk2_proto::codec::medhuf;

/// Decodes `payload` with the Python reference and returns its pixels.
fn python_decode(payload: &[u8], width: usize, height: usize) -> Vec<u16> {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("payload"), dir.path().join("pixels.u16"));
    std::fs::write(&input, payload).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/medhuf_decode.py");
    let run = Command::new("python3")
        .arg(&script)
        .arg(&input)
        .arg(width.to_string())
        .arg(height.to_string())
        .arg(&output)
        .output()
        .expect("python3 runs (CI installs it)");
    assert!(
        run.status.success(),
        "the reference decoder failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let bytes = std::fs::read(&output).unwrap();
    bytes
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
        .collect()
}

fn assert_reference_agrees(name: &str, depth: &[u16], width: usize) {
    let height = depth.len() / width;
    let mut payload = Vec::new();
    medhuf::encode(depth, width, &mut payload);
    assert_eq!(payload[0], 0, "{name}: the modelled mode, not stored");
    assert_eq!(python_decode(&payload, width, height), depth, "{name}");
}

#[test]
fn the_reference_decoder_agrees_on_the_worked_example_and_on_realistic_frames() {
    // The worked example of docs/codecs.md.
    let slope: Vec<u16> = (0..16 * 8)
        .map(|i: u16| {
            let (row, col) = (i / 16, i % 16);
            if col < 3 && row >= 5 {
                0
            } else {
                1000 + 3 * row + 2 * col + (i * 7) % 3
            }
        })
        .collect();
    assert_reference_agrees("slope", &slope, 16);

    // Time-of-flight-like frames: noise, holes, far values (errors that wrap modulo 2^16).
    for seed in [1, 2] {
        let config = MockConfig::default()
            .with_mode(MockMode::Realistic)
            .with_seed(seed)
            .with_shape(97, 64);
        let frame = MockKinect::new(config).frame(3);
        assert_reference_agrees("realistic mock", frame.depth_mm(), 97);
    }

    // Flat steps under flat rows (runs of exact predictions), hole areas with pixels after
    // holes under holes (predicted from the last non-zero pixel), extreme values.
    let (width, height) = (50, 40);
    let depth: Vec<u16> = (0..width * height)
        .map(|i| {
            let (row, col) = (i / width, i % width);
            match (row, col) {
                (10..=20, 5..=30) if (row + col) % 7 != 0 => 0,
                (10..=20, 5..=30) => 4000 + (row * col) as u16,
                (0..=5, _) => 65535 - (col / 10) as u16,
                (30.., _) => 1 + (col / 9) as u16 * 25,
                _ => 1200 + (row * 3 + col) as u16,
            }
        })
        .collect();
    assert_reference_agrees("steps and holes", &depth, width);
}
