//! `Calibration` (a sensor's intrinsics, from `Client.calibration()`) and `Registration` (depth
//! frames to point clouds, with the colour of each point), over `sk2_proto::calibration` and
//! `sk2_proto::registration`.
//!
//! The parameter classes mirror libfreenect2's `IrCameraParams` and `ColorCameraParams` field for
//! field, as the Rust types and the `"calibration"` object of `me` do (docs/protocol.md), so
//! numbers a libfreenect2 user knows read the same here. Values are the `float32`s the server
//! sent, as Python floats.

use numpy::{PyArray1, PyArray2, PyReadonlyArray2, PyReadonlyArray3};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use sk2_proto::calibration as rust;
use sk2_proto::registration::Registration as RustRegistration;
use sk2_proto::{KINECT_V2_HEIGHT_PX, KINECT_V2_WIDTH_PX};

use crate::codecs::frame_of;
use crate::errors::value_error;

/// A frozen Python class with one `float` getter per field of a Rust parameter record, its
/// `to_dict()` (the JSON form of `me`), equality and a `repr`.
macro_rules! parameter_class {
    (
        $(#[$doc:meta])*
        $name:ident = $python:literal from $rust:ty { $($(#[$field_doc:meta])* $field:ident),* $(,)? }
    ) => {
        $(#[$doc])*
        #[pyclass(frozen, eq, module = "streamkinect2", name = $python)]
        #[derive(Debug, Clone, PartialEq)]
        pub(crate) struct $name {
            $( $(#[$field_doc])* #[pyo3(get)] $field: f64, )*
        }

        impl From<&$rust> for $name {
            fn from(params: &$rust) -> Self {
                Self { $( $field: f64::from(params.$field), )* }
            }
        }

        #[pymethods]
        impl $name {
            /// The fields as a dict, named as in the `"calibration"` object of `me`.
            fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
                let dict = PyDict::new(py);
                $( dict.set_item(stringify!($field), self.$field)?; )*
                Ok(dict)
            }

            fn __repr__(&self) -> String {
                let fields: Vec<String> = vec![$( format!("{}={}", stringify!($field), self.$field) ),*];
                format!("{}({})", $python, fields.join(", "))
            }
        }
    };
}

parameter_class! {
    /// Intrinsics of the depth (infrared) camera, as libfreenect2's `IrCameraParams`: depth and
    /// infrared frames share them. A pixel (col, row) with depth z metres is the point
    /// ((col + 0.5 - cx) * z / fx, (row + 0.5 - cy) * z / fy, z) once undistorted with the
    /// Brown-Conrady coefficients k1, k2, k3 (radial) and p1, p2 (tangential).
    IrCameraParams = "IrCameraParams" from rust::IrCameraParams {
        /// Focal length along x, pixels.
        fx,
        /// Focal length along y, pixels.
        fy,
        /// Principal point x, pixels.
        cx,
        /// Principal point y, pixels.
        cy,
        /// Radial distortion, r^2 term.
        k1,
        /// Radial distortion, r^4 term.
        k2,
        /// Radial distortion, r^6 term.
        k3,
        /// Tangential distortion, first coefficient.
        p1,
        /// Tangential distortion, second coefficient.
        p2,
    }
}

parameter_class! {
    /// Intrinsics of the colour camera and the depth-to-colour mapping, as libfreenect2's
    /// `ColorCameraParams`: fx, fy, cx, cy in pixels; shift_d (mm) and shift_m, the
    /// depth-dependent x shift between the cameras; and the coefficients of two cubic polynomials
    /// in normalised depth coordinates, mx_* for colour x and my_* for colour y (x3y0 multiplies
    /// x^3, x1y2 x*y^2, x0y0 is the constant).
    ColorCameraParams = "ColorCameraParams" from rust::ColorCameraParams {
        /// Focal length along x, pixels.
        fx,
        /// Focal length along y, pixels.
        fy,
        /// Principal point x, pixels.
        cx,
        /// Principal point y, pixels.
        cy,
        /// Depth, millimetres, at which the x shift between the cameras is zero.
        shift_d,
        /// Scale of the depth-dependent x shift between the cameras.
        shift_m,
        mx_x3y0, mx_x0y3, mx_x2y1, mx_x1y2, mx_x2y0, mx_x0y2, mx_x1y1, mx_x1y0, mx_x0y1, mx_x0y0,
        my_x3y0, my_x0y3, my_x2y1, my_x1y2, my_x2y0, my_x0y2, my_x1y1, my_x1y0, my_x0y1, my_x0y0,
    }
}

/// A sensor's calibration, as its server describes it in `me`: `ir` (the depth/infrared
/// camera) and `color` (the colour camera and the mapping from depth to colour). Give it to
/// `Registration` to turn depth frames into point clouds.
#[pyclass(frozen, module = "streamkinect2", name = "Calibration")]
#[derive(Debug, Clone)]
pub(crate) struct Calibration {
    inner: rust::Calibration,
}

impl From<rust::Calibration> for Calibration {
    fn from(inner: rust::Calibration) -> Self {
        Self { inner }
    }
}

#[pymethods]
impl Calibration {
    /// The depth (infrared) camera's intrinsics.
    #[getter]
    fn ir(&self) -> IrCameraParams {
        IrCameraParams::from(&self.inner.ir)
    }

    /// The colour camera's intrinsics and the depth-to-colour mapping.
    #[getter]
    fn color(&self) -> ColorCameraParams {
        ColorCameraParams::from(&self.inner.color)
    }

    /// `{"ir": {...}, "color": {...}}`, the `"calibration"` object of `me`.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        dict.set_item("ir", self.ir().to_dict(py)?)?;
        dict.set_item("color", self.color().to_dict(py)?)?;
        Ok(dict)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<Calibration>()
            .is_ok_and(|other| other.get().inner == self.inner)
    }

    fn __repr__(&self) -> String {
        let ir = &self.inner.ir;
        format!(
            "<Calibration ir fx={} fy={} cx={} cy={}; color fx={} cx={} cy={}>",
            ir.fx,
            ir.fy,
            ir.cx,
            ir.cy,
            self.inner.color.fx,
            self.inner.color.cx,
            self.inner.color.cy
        )
    }
}

/// Depth frames to 3D points, and the colour of each point: libfreenect2's registration (the
/// same numbers, bit for bit, for Kinect v2 shapes), built once per sensor from its
/// `Calibration` for depth frames of `width` x `height`.
///
/// Points are metres in the depth camera's frame (x right, y down, z forward), one per pixel
/// with a depth, in row-major pixel order; pixels without depth (0, or outside the undistorted
/// image) are left out. Every call releases the GIL while it computes.
#[pyclass(frozen, module = "streamkinect2", name = "Registration")]
pub(crate) struct Registration {
    inner: RustRegistration,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

#[pymethods]
impl Registration {
    /// Precomputes the tables for `calibration` and depth frames of `width` x `height` (a
    /// Kinect v2's 512 x 424 by default). Raises ValueError for a calibration that makes
    /// registration undefined (a zero focal length) or an impossible shape.
    #[new]
    #[pyo3(signature = (calibration, width = KINECT_V2_WIDTH_PX, height = KINECT_V2_HEIGHT_PX))]
    fn new(
        py: Python<'_>,
        calibration: &Calibration,
        width: usize,
        height: usize,
    ) -> PyResult<Self> {
        let calibration = calibration.inner;
        py.detach(move || RustRegistration::new(&calibration, width, height))
            .map(|inner| Self { inner })
            .map_err(value_error)
    }

    /// `(width, height)` of the depth frames it registers.
    #[getter]
    fn shape(&self) -> (usize, usize) {
        self.inner.shape()
    }

    /// The point cloud of `depth` (a `uint16` array of millimetres, shape (height, width), such
    /// as `Frame.depth`): a `float32` array of shape (N, 3), metres. Raises ValueError if the
    /// frame's shape is not the registration's.
    fn point_cloud<'py>(
        &self,
        py: Python<'py>,
        depth: PyReadonlyArray2<'py, u16>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let depth = frame_of(&depth)?;
        let cloud = py
            .detach(|| self.inner.point_cloud(&depth))
            .map_err(value_error)?;
        Ok(PyArray2::from_owned_array(py, cloud.into_points()))
    }

    /// The point cloud of `depth` with the colour of each point from `rgb`, an RGB image of
    /// shape (height, width, 3) taken at the same moment (`ColorFrame.rgb`). Returns
    /// `(points, colors, has_color)`: (N, 3) `float32` metres, (N, 3) `uint8` RGB, and (N,)
    /// `bool`, False where the colour camera did not see the point (outside its image, or
    /// behind a nearer surface: libfreenect2's occlusion filter), whose colour is then black.
    #[allow(clippy::type_complexity)]
    fn colored_point_cloud<'py>(
        &self,
        py: Python<'py>,
        depth: PyReadonlyArray2<'py, u16>,
        rgb: PyReadonlyArray3<'py, u8>,
    ) -> PyResult<(
        Bound<'py, PyArray2<f32>>,
        Bound<'py, PyArray2<u8>>,
        Bound<'py, PyArray1<bool>>,
    )> {
        let depth = frame_of(&depth)?;
        // Copied under the GIL: no other Python thread can change it while the GIL is released.
        let rgb = rgb.as_array().to_owned();
        let cloud = py
            .detach(|| self.inner.colored_point_cloud(&depth, rgb.view()))
            .map_err(value_error)?;
        let colors = cloud.colors().clone();
        let has_color = cloud.has_color().clone();
        let points = cloud.into_point_cloud().into_points();
        Ok((
            PyArray2::from_owned_array(py, points),
            PyArray2::from_owned_array(py, colors),
            PyArray1::from_owned_array(py, has_color),
        ))
    }

    fn __repr__(&self) -> String {
        let (width, height) = self.inner.shape();
        format!("<Registration {width}x{height}>")
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Calibration>()?;
    m.add_class::<IrCameraParams>()?;
    m.add_class::<ColorCameraParams>()?;
    m.add_class::<Registration>()?;
    Ok(())
}
