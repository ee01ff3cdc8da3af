//! Infrared and colour channels beside depth: written and read back byte for byte, each read by
//! its own method, and what a writer refuses.

use std::io::Cursor;

use sk2_proto::depth_v2::Codec;
use sk2_record::{
    ChannelKind, ReadError, RecordFormat, RecordedStream, RecordingWriter, SensorChannel,
    WriteError,
};

use crate::{message, read_all, SERVER};

/// The start of a 2x1 JPEG, up to its frame header: all a `color` message needs to be checked.
const JPEG_2X1: [u8; 15] = [
    0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x01, 0x00, 0x02, 0x01, 0x01, 0x11, 0x00,
];

fn ir_message(sequence: u64) -> Vec<u8> {
    let frame = sk2_proto::sensor::CapturedIrFrame {
        ir: sk2_proto::frame::IrFrame::new(3, 2, vec![1, 200, 3000, 40_000, 5, 65_535]).unwrap(),
        sequence,
        device_timestamp: sequence * 8,
        capture_time_ns: 1_700_000_000_000_000_000 + sequence,
    };
    sk2_proto::ir_v2::encode(&frame, Codec::MedHuf)
}

fn color_message(sequence: u64) -> Vec<u8> {
    let frame = sk2_proto::sensor::CapturedColorFrame {
        jpeg: sk2_proto::color::JpegImage::new(JPEG_2X1.to_vec()).unwrap(),
        sequence,
        device_timestamp: sequence,
        capture_time_ns: 1_700_000_000_500_000_000 + sequence,
    };
    sk2_proto::color::encode(&frame)
}

/// A writer in memory with a depth, an infrared and a colour channel for sensor `abcd`.
fn writer_of_each_stream(
    format: RecordFormat,
) -> (RecordingWriter<Cursor<Vec<u8>>>, [SensorChannel; 3]) {
    let mut writer = RecordingWriter::new(Cursor::new(Vec::new()), format).unwrap();
    let channels = [
        RecordedStream::Depth,
        RecordedStream::Ir,
        RecordedStream::Color,
    ]
    .map(|stream| writer.add_stream(SERVER, "abcd", stream).unwrap());
    (writer, channels)
}

/// A recording in `format` of sensor `abcd`: depth frame 1, its infrared, and colour frame 4,
/// received at 10, 11 and 12 ns.
fn one_frame_of_each_stream(format: RecordFormat) -> Vec<u8> {
    let (mut writer, [depth, ir, color]) = writer_of_each_stream(format);
    let again = writer.add_stream(SERVER, "abcd", RecordedStream::Ir);
    assert_eq!(again.unwrap(), ir, "declared once");
    writer.write(depth, &message(1), 10).unwrap();
    writer.write(ir, &ir_message(1), 11).unwrap();
    writer.write(color, &color_message(4), 12).unwrap();
    writer.finish().unwrap().into_inner()
}

#[test]
fn infrared_and_colour_come_back_byte_for_byte_on_their_own_channels() {
    let (messages, error) = read_all(&one_frame_of_each_stream(RecordFormat::DepthV2));
    assert!(error.is_none(), "{error:?}");
    let topics: Vec<_> = messages.iter().map(|m| m.channel.topic.as_str()).collect();
    assert_eq!(
        topics,
        [
            "/Kinect test/abcd/depth_v2",
            "/Kinect test/abcd/ir_v2",
            "/Kinect test/abcd/color"
        ]
    );
    let [depth, ir, color] = &messages[..] else {
        panic!("{messages:?}")
    };
    assert_eq!(ir.channel.kind, ChannelKind::IrV2);
    assert_eq!(ir.data, ir_message(1));
    assert_eq!((ir.log_time_ns, ir.sequence), (11, 1));
    assert_eq!(ir.publish_time_ns, 1_700_000_000_000_000_001);
    let frame = ir.decode_ir().unwrap();
    assert_eq!((frame.sequence, frame.device_timestamp), (1, 8));
    assert_eq!(frame.ir.amplitude(), [1, 200, 3000, 40_000, 5, 65_535]);

    assert_eq!(color.channel.kind, ChannelKind::Color);
    assert_eq!(color.data, color_message(4));
    assert_eq!(color.publish_time_ns, 1_700_000_000_500_000_004);
    let frame = color.decode_color().unwrap();
    assert_eq!(frame.sequence, 4);
    assert_eq!((frame.jpeg.width(), frame.jpeg.height()), (2, 1));
    assert_eq!(frame.jpeg.bytes(), JPEG_2X1);

    // Each stream is read by its own method; the others say which stream the channel holds.
    assert!(depth.channel.kind.is_depth() && !ir.channel.kind.is_depth());
    assert!(ir.channel.kind.is_ir() && color.channel.kind.is_color());
    assert!(matches!(ir.decode(), Err(ReadError::NotDepth { .. })));
    let error = depth.decode_ir().unwrap_err();
    assert!(error.to_string().contains("not infrared frames"), "{error}");
    assert!(matches!(
        ir.decode_color(),
        Err(ReadError::NotStream {
            stream: "colour",
            ..
        })
    ));
}

#[test]
fn bad_infrared_and_colour_messages_are_not_written() {
    let (mut writer, [_, ir, color]) = writer_of_each_stream(RecordFormat::DepthV2);
    // A colour message on the infrared channel and the other way round: their codec ids differ.
    assert!(matches!(
        writer.write(ir, &color_message(1), 0),
        Err(WriteError::BadMessage(_))
    ));
    assert!(matches!(
        writer.write(color, &ir_message(1), 0),
        Err(WriteError::BadColorMessage(_))
    ));
    // A colour header whose size is not the JPEG's.
    let mut lying = color_message(1);
    lying[8] = 3;
    assert!(matches!(
        writer.write(color, &lying, 0),
        Err(WriteError::BadColorMessage(_))
    ));
    assert_eq!(writer.messages(), 0);
}

#[test]
fn a_foxglove_recording_holds_infrared_as_mono16_raw_images_and_colour_as_jpeg_compressed_images() {
    let (messages, error) = read_all(&one_frame_of_each_stream(RecordFormat::FoxgloveRawImage));
    assert!(error.is_none(), "{error:?}");
    let [depth, ir, color] = &messages[..] else {
        panic!("{messages:?}")
    };
    let topics = [
        &depth.channel.topic,
        &ir.channel.topic,
        &color.channel.topic,
    ];
    assert_eq!(
        topics,
        [
            "/Kinect test/abcd/depth_image",
            "/Kinect test/abcd/ir_image",
            "/Kinect test/abcd/color_image"
        ]
    );
    let kinds = [&depth.channel.kind, &ir.channel.kind, &color.channel.kind];
    assert_eq!(
        kinds,
        [
            &ChannelKind::RawImage,
            &ChannelKind::IrRawImage,
            &ChannelKind::CompressedImage
        ]
    );
    // The same pixels and JPEG; sequence numbers and times from the MCAP message.
    let frame = ir.decode_ir().unwrap();
    assert_eq!(frame.ir.amplitude(), [1, 200, 3000, 40_000, 5, 65_535]);
    assert_eq!(
        (frame.sequence, frame.capture_time_ns),
        (1, 1_700_000_000_000_000_001)
    );
    let frame = color.decode_color().unwrap();
    assert_eq!(frame.jpeg.bytes(), JPEG_2X1);
    assert_eq!(
        (frame.sequence, frame.capture_time_ns),
        (4, 1_700_000_000_500_000_004)
    );
    // Infrared is not read as depth, though both are RawImages.
    assert!(matches!(ir.decode(), Err(ReadError::NotDepth { .. })));
}
