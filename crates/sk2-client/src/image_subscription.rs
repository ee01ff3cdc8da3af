//! Infrared and colour subscriptions: [`IrSubscription`] (`ir_v2`, `u16` amplitudes),
//! [`ColorSubscription`] (`color`, decoded to RGB) and [`ColorJpegSubscription`] (`color`, the JPEG
//! as sent, for viewers that pass it on), and [`RawStreamSubscription`] (any stream's messages
//! byte for byte, for recorders: nothing skipped).
//!
//! They run on the same receiving thread as depth subscriptions (see the `receiving` module) and
//! keep the same rules (the raw one aside): only the newest waiting message is decoded (older
//! ones are counted in [`SubscriptionStats::skipped`]), decoded frames wait in a bounded queue
//! that drops its oldest frame when the application falls behind
//! ([`SubscriptionStats::dropped`]), a message that cannot be decoded is counted
//! ([`SubscriptionStats::decode_errors`]) and skipped, and gaps in sequence numbers are counted
//! as [`SubscriptionStats::lost`]. Each stream has its own socket, thread and
//! queue: a slow colour consumer never delays depth or infrared.
//!
//! [`SubscriptionStats::skipped`]: crate::SubscriptionStats::skipped
//! [`SubscriptionStats::dropped`]: crate::SubscriptionStats::dropped
//! [`SubscriptionStats::decode_errors`]: crate::SubscriptionStats::decode_errors
//! [`SubscriptionStats::lost`]: crate::SubscriptionStats::lost

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use ndarray::Array3;
use sk2_proto::calibration::Calibration;
use sk2_proto::color::{self, ColorHeader};
use sk2_proto::color_image;
use sk2_proto::depth_v2::FrameHeader;
use sk2_proto::frame::IrFrame;
use sk2_proto::ir_v2;

use crate::client::Client;
use crate::config::SubscriptionConfig;
use crate::drop_oldest::DropOldest;
use crate::error::ClientError;
use crate::feed::{frame_methods, handle_methods, Feed};
use crate::raw_subscription::DEFAULT_RAW_QUEUE_LEN;
use crate::receiving::{EndpointKind, MessageSink, Output, RawStreamMessage};

/// One decoded infrared frame.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReceivedIrFrame {
    /// The device that produced it.
    pub device_id: String,
    /// The amplitudes; [`IrFrame::into_array`] gives an `ndarray::Array2<u16>` (rows, columns).
    pub ir: IrFrame,
    /// The message header: codec, shape, and the sequence number and timestamps of the depth
    /// frame of the same exposure (pair them by sequence).
    pub header: FrameHeader,
    /// When the message arrived at this client.
    pub received_at: Instant,
}

/// One decoded colour frame.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReceivedColorFrame {
    /// The device that produced it.
    pub device_id: String,
    /// The image, RGB, shape `(height, width, 3)`.
    pub rgb: Array3<u8>,
    /// The message header (colour frames have their own sequence numbers and clock).
    pub header: ColorHeader,
    /// When the message arrived at this client.
    pub received_at: Instant,
}

/// One colour frame as the server sent it: a JPEG whose size was checked against the header, not
/// decoded.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReceivedColorJpeg {
    /// The device that produced it.
    pub device_id: String,
    /// The JPEG file.
    pub jpeg: Vec<u8>,
    /// The message header.
    pub header: ColorHeader,
    /// When the message arrived at this client.
    pub received_at: Instant,
}

/// A live subscription to one of a device's image streams, generic over what it delivers
/// ([`IrSubscription`], [`ColorSubscription`], [`ColorJpegSubscription`]). Dropping it (or
/// [`ImageSubscription::unsubscribe`]) stops the thread and closes the socket.
#[derive(Debug)]
pub struct ImageSubscription<T> {
    feed: Feed<T>,
}

/// Infrared frames of a device (`ir_v2`).
pub type IrSubscription = ImageSubscription<ReceivedIrFrame>;
/// Colour frames of a device (`color`), decoded to RGB.
pub type ColorSubscription = ImageSubscription<ReceivedColorFrame>;
/// Colour frames of a device (`color`) as JPEG files, undecoded.
pub type ColorJpegSubscription = ImageSubscription<ReceivedColorJpeg>;
/// Every message of one of a device's streams, undecoded ([`Client::subscribe_raw_stream`]).
pub type RawStreamSubscription = ImageSubscription<RawStreamMessage>;

impl<T: Send + 'static> ImageSubscription<T> {
    handle_methods!();
    frame_methods!(T);
}

impl<T: Send + 'static> Iterator for ImageSubscription<T> {
    type Item = T;

    /// Blocks for the next frame; `None` once the subscription has ended.
    fn next(&mut self) -> Option<T> {
        self.recv().ok()
    }
}

/// Decodes with `decode` and queues into a drop-oldest queue.
struct QueueSink<T, D> {
    queue: DropOldest<T>,
    decode: D,
}

impl<T, D> MessageSink for QueueSink<T, D>
where
    T: Send + 'static,
    D: Fn(&str, &[u8], Instant) -> Result<T, String> + Send + 'static,
{
    fn deliver(
        &mut self,
        device_id: &str,
        message: &[u8],
        received_at: Instant,
    ) -> Result<(), String> {
        let frame = (self.decode)(device_id, message, received_at)?;
        self.queue.send(frame);
        Ok(())
    }

    fn dropped_counter(&self) -> Arc<AtomicU64> {
        self.queue.dropped_counter()
    }
}

fn decode_ir(
    device_id: &str,
    message: &[u8],
    received_at: Instant,
) -> Result<ReceivedIrFrame, String> {
    let (header, ir) = ir_v2::decode(message).map_err(|error| error.to_string())?;
    Ok(ReceivedIrFrame {
        device_id: device_id.to_owned(),
        ir,
        header,
        received_at,
    })
}

fn decode_color(
    device_id: &str,
    message: &[u8],
    received_at: Instant,
) -> Result<ReceivedColorFrame, String> {
    let (header, rgb) = color_image::decode(message).map_err(|error| error.to_string())?;
    Ok(ReceivedColorFrame {
        device_id: device_id.to_owned(),
        rgb,
        header,
        received_at,
    })
}

fn check_color_jpeg(
    device_id: &str,
    message: &[u8],
    received_at: Instant,
) -> Result<ReceivedColorJpeg, String> {
    let (header, jpeg) = color::decode(message).map_err(|error| error.to_string())?;
    Ok(ReceivedColorJpeg {
        device_id: device_id.to_owned(),
        jpeg: jpeg.to_vec(),
        header,
        received_at,
    })
}

/// Infrared, colour and calibration: the parts of [`Client`] beyond depth.
impl Client {
    /// Subscribes to `device_id`'s infrared frames (`ir_v2`) with the client's subscription
    /// settings. [`ClientError::NoStreamEndpoint`] if the device offers no infrared.
    pub fn subscribe_ir(&self, device_id: &str) -> Result<IrSubscription, ClientError> {
        self.subscribe_ir_with(device_id, self.subscription_config().clone())
    }

    /// [`Client::subscribe_ir`] with other subscription settings.
    pub fn subscribe_ir_with(
        &self,
        device_id: &str,
        config: SubscriptionConfig,
    ) -> Result<IrSubscription, ClientError> {
        self.subscribe_image(device_id, EndpointKind::Ir, config, decode_ir)
    }

    /// Subscribes to `device_id`'s colour frames (`color`), decoded to RGB off the application's
    /// thread. [`ClientError::NoStreamEndpoint`] if the device offers no colour.
    pub fn subscribe_color(&self, device_id: &str) -> Result<ColorSubscription, ClientError> {
        self.subscribe_color_with(device_id, self.subscription_config().clone())
    }

    /// [`Client::subscribe_color`] with other subscription settings.
    pub fn subscribe_color_with(
        &self,
        device_id: &str,
        config: SubscriptionConfig,
    ) -> Result<ColorSubscription, ClientError> {
        self.subscribe_image(device_id, EndpointKind::Color, config, decode_color)
    }

    /// Subscribes to `device_id`'s colour frames as JPEG files, checked but not decoded: for
    /// applications that pass them on (a browser decodes JPEG itself) or store them.
    pub fn subscribe_color_jpeg(
        &self,
        device_id: &str,
    ) -> Result<ColorJpegSubscription, ClientError> {
        self.subscribe_color_jpeg_with(device_id, self.subscription_config().clone())
    }

    /// [`Client::subscribe_color_jpeg`] with other subscription settings.
    pub fn subscribe_color_jpeg_with(
        &self,
        device_id: &str,
        config: SubscriptionConfig,
    ) -> Result<ColorJpegSubscription, ClientError> {
        self.subscribe_image(device_id, EndpointKind::Color, config, check_color_jpeg)
    }

    /// Subscribes to every message of `device_id`'s endpoint of `kind` exactly as received, its
    /// header checked and its payload not decoded: what a recorder stores. As with
    /// [`Client::subscribe_raw`], nothing is skipped, and only an application
    /// [`DEFAULT_RAW_QUEUE_LEN`] messages behind loses the oldest (counted).
    /// [`ClientError::NoStreamEndpoint`] if the device does not offer `kind`.
    pub fn subscribe_raw_stream(
        &self,
        device_id: &str,
        kind: EndpointKind,
    ) -> Result<RawStreamSubscription, ClientError> {
        let mut config = self
            .subscription_config()
            .clone()
            .with_queue_len(DEFAULT_RAW_QUEUE_LEN);
        config.curve = self.curve().cloned();
        let address = self.stream_address(device_id, kind)?;
        let feed = Feed::open(
            self.context(),
            device_id,
            kind,
            address,
            &config,
            Output::RawStream,
        )?;
        Ok(ImageSubscription { feed })
    }

    /// The address of `device_id`'s endpoint of `kind`, or [`ClientError::NoStreamEndpoint`].
    fn stream_address(
        &self,
        device_id: &str,
        kind: EndpointKind,
    ) -> Result<std::net::SocketAddr, ClientError> {
        let endpoint_name = kind.endpoint_name();
        let (_, address) = self.depth_address(device_id, |device| {
            device
                .endpoint(endpoint_name)
                .map(|endpoint| (kind, endpoint))
                .ok_or_else(|| ClientError::NoStreamEndpoint {
                    device_id: device.id.clone(),
                    endpoint: endpoint_name,
                })
        })?;
        Ok(address)
    }

    /// The calibration of `device_id` as the server last described it in `me`: depth and colour
    /// intrinsics and the depth-to-colour mapping, for
    /// [`sk2_proto::registration::Registration`]. `None` if the device is unknown or its server
    /// sends no calibration (the 2014 server does not).
    pub fn calibration(&self, device_id: &str) -> Option<Calibration> {
        self.me()?.calibration(device_id).copied()
    }

    /// Opens a subscription to `device_id`'s endpoint of `kind`, whose messages `decode` turns
    /// into what the subscription delivers. Its socket uses the client's CurveZMQ keys, as depth
    /// subscriptions do: a secure server secures every stream.
    fn subscribe_image<T, D>(
        &self,
        device_id: &str,
        kind: EndpointKind,
        mut config: SubscriptionConfig,
        decode: D,
    ) -> Result<ImageSubscription<T>, ClientError>
    where
        T: Send + 'static,
        D: Fn(&str, &[u8], Instant) -> Result<T, String> + Send + 'static,
    {
        config.curve = self.curve().cloned();
        let address = self.stream_address(device_id, kind)?;
        let sink = |queue| Output::Sink(Box::new(QueueSink { queue, decode }));
        let feed = Feed::open(self.context(), device_id, kind, address, &config, sink)?;
        Ok(ImageSubscription { feed })
    }
}
