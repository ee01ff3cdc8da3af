//! Colour frames to pixels: JPEGs made by an independent encoder decode to what was encoded, and
//! damaged or lying messages are errors, never panics or oversized allocations.

use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
use ndarray::Array3;
use sk2_proto::color::{self, JpegImage};
use sk2_proto::color_image::{self, ColorImageError};
use sk2_proto::sensor::CapturedColorFrame;

/// A smooth test picture: red grows to the right, green downwards, blue is constant.
fn picture(width: usize, height: usize) -> Array3<u8> {
    Array3::from_shape_fn((height, width, 3), |(row, col, channel)| match channel {
        0 => (col * 255 / (width - 1)) as u8,
        1 => (row * 255 / (height - 1)) as u8,
        _ => 96,
    })
}

fn jpeg_of(rgb: &Array3<u8>, quality: u8, sampling: SamplingFactor) -> Vec<u8> {
    let (height, width) = (rgb.shape()[0], rgb.shape()[1]);
    let mut out = Vec::new();
    let mut encoder = Encoder::new(&mut out, quality);
    encoder.set_sampling_factor(sampling);
    let pixels = rgb.as_standard_layout();
    encoder
        .encode(
            pixels.as_slice().unwrap(),
            width as u16,
            height as u16,
            ColorType::Rgb,
        )
        .unwrap();
    out
}

fn message_of(jpeg: Vec<u8>) -> Vec<u8> {
    color::encode(&CapturedColorFrame {
        jpeg: JpegImage::new(jpeg).unwrap(),
        sequence: 3,
        device_timestamp: 4,
        capture_time_ns: 5,
    })
}

fn largest_difference(a: &Array3<u8>, b: &Array3<u8>) -> u8 {
    a.iter().zip(b).map(|(&x, &y)| x.abs_diff(y)).max().unwrap()
}

#[test]
fn a_jpeg_decodes_to_the_picture_it_encodes_within_jpeg_loss() {
    for sampling in [
        SamplingFactor::R_4_4_4,
        SamplingFactor::R_4_2_2,
        SamplingFactor::R_4_2_0,
    ] {
        let original = picture(64, 48);
        let rgb = color_image::decode_jpeg(&jpeg_of(&original, 95, sampling)).unwrap();
        assert_eq!(rgb.shape(), &[48, 64, 3]);
        let difference = largest_difference(&rgb, &original);
        assert!(difference <= 12, "{sampling:?}: off by up to {difference}");
    }
}

#[test]
fn a_whole_colour_message_decodes_to_its_header_and_picture() {
    let original = picture(40, 30); // not a multiple of the 16-pixel MCU
    let (header, rgb) =
        color_image::decode(&message_of(jpeg_of(&original, 90, SamplingFactor::R_4_2_0))).unwrap();
    assert_eq!((header.width, header.height, header.sequence), (40, 30, 3));
    assert!(largest_difference(&rgb, &original) <= 16);
}

#[test]
fn a_grey_jpeg_comes_out_as_rgb_with_equal_channels() {
    let grey: Vec<u8> = (0..32 * 16).map(|i| (i % 251) as u8).collect();
    let mut jpeg = Vec::new();
    Encoder::new(&mut jpeg, 90)
        .encode(&grey, 32, 16, ColorType::Luma)
        .unwrap();
    let rgb = color_image::decode_jpeg(&jpeg).unwrap();
    assert_eq!(rgb.shape(), &[16, 32, 3]);
    for pixel in rgb.rows() {
        assert!(pixel[0] == pixel[1] && pixel[1] == pixel[2]);
    }
}

#[test]
fn every_truncation_of_a_jpeg_is_an_error() {
    let jpeg = jpeg_of(&picture(24, 16), 80, SamplingFactor::R_4_2_0);
    // Everything short of the end-of-image marker: the image data is incomplete.
    for end in 0..jpeg.len() - 2 {
        assert!(
            color_image::decode_jpeg(&jpeg[..end]).is_err(),
            "{end} of {} bytes decoded",
            jpeg.len()
        );
    }
}

#[test]
fn damaged_jpegs_are_errors_or_pictures_of_the_right_size_never_panics() {
    let jpeg = jpeg_of(&picture(24, 16), 80, SamplingFactor::R_4_2_2);
    let mut errors = 0;
    for at in 0..jpeg.len() {
        for flip in [0x01u8, 0x80, 0xFF] {
            let mut damaged = jpeg.clone();
            damaged[at] ^= flip;
            match color_image::decode_jpeg(&damaged) {
                Ok(rgb) => {
                    let (width, height) = color::jpeg_shape(&damaged).unwrap();
                    assert_eq!(rgb.shape(), &[height, width, 3]);
                }
                Err(_) => errors += 1,
            }
        }
    }
    assert!(errors > 0, "no damage was noticed at all");
}

#[test]
fn a_header_that_disagrees_with_the_jpeg_is_refused_before_decoding() {
    let mut message = message_of(jpeg_of(&picture(16, 8), 80, SamplingFactor::R_4_2_0));
    message[12] = 9; // height 9 in the header; the JPEG says 8
    assert!(matches!(
        color_image::decode(&message),
        Err(ColorImageError::Message(
            color::ColorError::ShapeMismatch { .. }
        ))
    ));
}

#[test]
fn a_jpeg_claiming_more_pixels_than_any_frame_is_refused_before_decoding() {
    // SOI, then SOF0 claiming 65535 x 65535 (4.3 Gpx), then nothing.
    let jpeg = [
        0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0x03, 0x01, 0x22, 0x00,
        0x02, 0x11, 0x01, 0x03, 0x11, 0x01,
    ];
    assert_eq!(
        color_image::decode_jpeg(&jpeg),
        Err(ColorImageError::TooLarge {
            width: 65535,
            height: 65535
        })
    );
}

#[test]
fn zero_padding_after_the_end_marker_is_accepted() {
    // A Kinect v2 aligns its JPEGs with up to 3 bytes after the end-of-image marker.
    let mut jpeg = jpeg_of(&picture(16, 16), 80, SamplingFactor::R_4_2_0);
    let clean = color_image::decode_jpeg(&jpeg).unwrap();
    jpeg.extend_from_slice(&[0, 0, 0]);
    assert_eq!(color_image::decode_jpeg(&jpeg).unwrap(), clean);
    jpeg.push(0x55);
    assert_eq!(
        color_image::decode_jpeg(&jpeg),
        Err(ColorImageError::Truncated)
    );
}
