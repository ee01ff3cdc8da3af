//! What the transport and the routes exchange: a parsed [`Request`] and the [`Reply`] to it.

use std::sync::Arc;

use crate::hub::{ServedFrame, ServedImage};

/// One parsed request: what the routes need.
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) host: Option<String>,
    pub(crate) keep_alive: bool,
}

/// An answer: status, extra headers, body.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Body,
}

/// A response body: a shared frame or image (no copy per tab), static page text, or owned bytes.
pub(crate) enum Body {
    Frame(Arc<ServedFrame>),
    Image(Arc<ServedImage>),
    Static(&'static str),
    Owned(Vec<u8>),
}

impl Body {
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Self::Frame(frame) => &frame.depth_le,
            Self::Image(image) => &image.bytes,
            Self::Static(text) => text.as_bytes(),
            Self::Owned(bytes) => bytes,
        }
    }
}

pub(crate) fn static_file(body: &'static str, content_type: &str) -> Reply {
    Reply {
        status: 200,
        headers: vec![("Content-Type", content_type.to_owned())],
        body: Body::Static(body),
    }
}

pub(crate) fn bytes_reply(status: u16, body: Vec<u8>, content_type: &str) -> Reply {
    Reply {
        status,
        headers: vec![("Content-Type", content_type.to_owned())],
        body: Body::Owned(body),
    }
}

pub(crate) fn json_error(status: u16, message: &str) -> Reply {
    let body = serde_json::json!({ "error": message })
        .to_string()
        .into_bytes();
    bytes_reply(status, body, "application/json")
}
