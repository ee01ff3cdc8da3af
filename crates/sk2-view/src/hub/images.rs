//! The infrared and colour images of a sensor, beside its depth frames: how a source publishes
//! them and a tab waits for the latest of each ([`ServedImage`], as the bytes a tab downloads:
//! infrared as little-endian `u16` amplitudes; colour as the JPEG the sensor sent, which the
//! browser decodes itself, so the viewer never decodes colour).

use std::sync::Arc;
use std::time::Duration;

use super::frame::{ImageStream, ServedImage, SourceKey};
use super::state::State;
use super::{Hub, WaitError};

impl Hub {
    /// A source hands in the newest infrared image of a listed sensor (amplitudes, row-major).
    pub fn publish_ir(
        &self,
        key: &SourceKey,
        width_px: usize,
        height_px: usize,
        amplitude: &[u16],
        sensor_sequence: u64,
    ) {
        let bytes = amplitude.iter().flat_map(|a| a.to_le_bytes()).collect();
        self.publish_image(
            key,
            ImageStream::Ir,
            (width_px, height_px),
            bytes,
            sensor_sequence,
        );
    }

    /// A source hands in the newest colour image of a listed sensor, as a JPEG file.
    pub fn publish_color_jpeg(
        &self,
        key: &SourceKey,
        width_px: usize,
        height_px: usize,
        jpeg: Vec<u8>,
        sensor_sequence: u64,
    ) {
        self.publish_image(
            key,
            ImageStream::Color,
            (width_px, height_px),
            jpeg,
            sensor_sequence,
        );
    }

    fn publish_image(
        &self,
        key: &SourceKey,
        stream: ImageStream,
        (width_px, height_px): (usize, usize),
        bytes: Vec<u8>,
        sensor_sequence: u64,
    ) {
        let mut state = self.lock();
        if !state.sensors.contains_key(key) {
            tracing::trace!(source = %key, stream = stream.name(), "image for an unlisted sensor ignored");
            return;
        }
        // Images of sensors no longer listed go, so memory stays one image per listed stream.
        let State {
            images, sensors, ..
        } = &mut *state;
        images.retain(|(listed, _), _| sensors.contains_key(listed));
        let number = images
            .get(&(key.clone(), stream))
            .map_or(1, |image| image.number + 1);
        let image = ServedImage {
            number,
            width_px,
            height_px,
            bytes,
            sensor_sequence,
        };
        images.insert((key.clone(), stream), Arc::new(image));
        drop(state);
        self.inner.changed.notify_all();
    }

    /// The newest image of `stream` of sensor `key` numbered above `after`, waiting up to
    /// `timeout` for one; at once [`WaitError::Timeout`] if the stream never sent an image. Asking
    /// marks the sensor as wanted, as [`Hub::wait_frame`] does.
    pub fn wait_image(
        &self,
        key: &SourceKey,
        stream: ImageStream,
        after: Option<u64>,
        timeout: Duration,
    ) -> Result<Arc<ServedImage>, WaitError> {
        self.long_poll(key, after, timeout, |state| {
            // A stream that never sent an image (a depth-only sensor, or not yet) is answered at
            // once: a tab's long poll would otherwise hold one of the browser's few connections
            // to this host (six in Chromium) for nothing, and starve the depth requests.
            match state.images.get(&(key.clone(), stream)) {
                Some(newest) => Ok(Some(Arc::clone(newest))),
                None => Err(WaitError::Timeout),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn hub_with_sensor() -> (Hub, SourceKey) {
        let hub = Hub::new();
        hub.server_seen("s", "tcp://s:1");
        hub.set_sensors("s", &[("a".into(), "raw".into())]);
        (hub, SourceKey::new("s", "a"))
    }

    #[test]
    fn the_newest_image_of_each_stream_is_served_and_numbered() {
        let (hub, key) = hub_with_sensor();
        hub.publish_ir(&key, 2, 1, &[0x0102, 0xFFFF], 7);
        hub.publish_ir(&key, 2, 1, &[3, 4], 8);
        hub.publish_color_jpeg(&key, 4, 3, vec![0xFF, 0xD8], 1);
        let ir = hub
            .wait_image(&key, ImageStream::Ir, None, Duration::ZERO)
            .unwrap();
        assert_eq!((ir.number, ir.sensor_sequence), (2, 8));
        assert_eq!(ir.bytes, [3, 0, 4, 0]);
        let color = hub
            .wait_image(&key, ImageStream::Color, None, Duration::ZERO)
            .unwrap();
        assert_eq!(
            (color.number, color.width_px, &color.bytes[..]),
            (1, 4, &[0xFF, 0xD8][..])
        );
        assert_eq!(
            hub.wait_image(&key, ImageStream::Ir, Some(2), Duration::from_millis(10))
                .unwrap_err(),
            WaitError::Timeout
        );
    }

    #[test]
    fn a_stream_that_never_sent_an_image_is_answered_at_once() {
        let (hub, key) = hub_with_sensor();
        let asked = Instant::now();
        let answer = hub.wait_image(&key, ImageStream::Color, None, Duration::from_secs(5));
        assert_eq!(answer.unwrap_err(), WaitError::Timeout);
        assert!(asked.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn asking_for_images_marks_the_sensor_wanted_and_unknown_sensors_are_errors() {
        let (hub, key) = hub_with_sensor();
        assert!(!hub.is_wanted(&key));
        let _ = hub.wait_image(&key, ImageStream::Color, None, Duration::ZERO);
        assert!(hub.is_wanted(&key));
        let unknown = SourceKey::new("s", "nope");
        assert!(matches!(
            hub.wait_image(&unknown, ImageStream::Ir, None, Duration::ZERO),
            Err(WaitError::Unknown(_))
        ));
        hub.publish_ir(&unknown, 1, 1, &[1], 1); // ignored, no panic
    }
}
