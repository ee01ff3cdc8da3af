/* The C interface between sk2-freenect2 (Rust) and libfreenect2 (C++).
 *
 * libfreenect2 has no C API, so this shim wraps the few C++ calls the crate needs. The Rust
 * declarations in src/ffi.rs mirror this file by hand; keep them in step.
 *
 * Rules that hold for every function:
 *   - No C++ exception ever crosses this boundary: each body catches everything and reports
 *     SK2F2_ERR_EXCEPTION (unwinding into Rust would be undefined behaviour).
 *   - Handles are created and freed only here; NULL handles are rejected with SK2F2_ERR_ARG.
 *   - One handle is used by one thread at a time (the Rust side guarantees it), with one
 *     exception: the colour calls (sk2f2_wait_color, sk2f2_release_color) may run on one thread
 *     while the depth calls (sk2f2_wait_depth, sk2f2_release_frame) run on another; the two
 *     pairs touch disjoint state. Nothing else may run concurrently with either.
 *
 * Streams: a device streams depth and IR (one listener: both frames of a packet arrive together)
 * and, if started with colour, colour (a second listener). Colour is the device's own JPEG,
 * passed through undecoded: the device's pipeline is the chosen depth pipeline combined with
 * libfreenect2's DumpPacketPipeline for colour (see docs/freenect2.md, section 4).
 */
#ifndef SK2_FREENECT2_SHIM_H
#define SK2_FREENECT2_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sk2f2_context sk2f2_context; /* owns a libfreenect2::Freenect2 */
typedef struct sk2f2_device sk2f2_device;   /* owns a Freenect2Device and its listener */

/* Packet pipelines (libfreenect2 decodes depth on one of these). */
#define SK2F2_PIPELINE_CPU 0
#define SK2F2_PIPELINE_OPENGL 1
#define SK2F2_PIPELINE_OPENCL 2
#define SK2F2_PIPELINE_CUDA 3

/* Status codes: 0 is success, negative is failure. */
#define SK2F2_OK 0
#define SK2F2_ERR_ARG -1         /* NULL handle, bad index, unknown pipeline id */
#define SK2F2_ERR_EXCEPTION -2   /* libfreenect2 (or allocation) threw */
#define SK2F2_ERR_UNAVAILABLE -3 /* pipeline not compiled into this libfreenect2 */
#define SK2F2_ERR_OPEN -4        /* openDevice returned NULL */
#define SK2F2_ERR_START -5       /* startStreams returned false */
#define SK2F2_ERR_STATE -6       /* call out of order (e.g. release without a held frame) */
#define SK2F2_ERR_SYSTEM -7      /* a system call failed (fork, pipe, poll) */

/* Results of sk2f2_probe_pipeline besides SK2F2_OK. */
#define SK2F2_PROBE_EXITED 1   /* the child exited with a status other than 0 */
#define SK2F2_PROBE_SIGNALED 2 /* the child was killed by a signal */
#define SK2F2_PROBE_TIMEOUT 3  /* the child did not finish in time and was killed */

/* A frame held by the device handle until released. `data` points into libfreenect2's frame
 * buffer: width * height * bytes_per_pixel bytes. Depth and IR: Float, 512 x 424, 4 bytes per
 * pixel. Colour: Raw, width = height = 1, bytes_per_pixel = the JPEG's length in bytes. */
struct sk2f2_frame
{
  const unsigned char *data;
  size_t width;
  size_t height;
  size_t bytes_per_pixel;
  int32_t format;     /* libfreenect2::Frame::Format; 1 = Raw, 2 = Float */
  uint32_t timestamp; /* device ticks of 0.125 ms */
  uint32_t sequence;  /* device frame counter */
  uint32_t status;    /* 0 if ok */
};

/* The IR (depth) camera's factory intrinsics, in depth pixels, and its distortion
 * (libfreenect2's Freenect2Device::IrCameraParams, field for field). */
struct sk2f2_ir_params
{
  float fx, fy, cx, cy;
  float k1, k2, k3, p1, p2;
};

/* The colour camera's factory intrinsics, in colour pixels, and the coefficients of
 * libfreenect2's depth-to-colour mapping (Freenect2Device::ColorCameraParams). mx and my are
 * mx_x3y0, mx_x0y3, mx_x2y1, mx_x1y2, mx_x2y0, mx_x0y2, mx_x1y1, mx_x1y0, mx_x0y1, mx_x0y0 in this
 * order (my likewise). */
struct sk2f2_color_params
{
  float fx, fy, cx, cy;
  float shift_d, shift_m;
  float mx[10];
  float my[10];
};

/* 1 if this libfreenect2 was built with the pipeline, else 0. */
int32_t sk2f2_pipeline_available(int32_t pipeline);

/* Constructs the pipeline in a child process (fork) and reports whether that process survived:
 * libfreenect2's OpenGL pipeline calls exit(-1) from its constructor when it cannot create its
 * window, which would end the caller. The child's standard output and error go to a pipe; the
 * last `len` - 1 bytes of it are written to `output` with a NUL. Returns SK2F2_OK if the child
 * constructed the pipeline, SK2F2_PROBE_EXITED (with its exit status in *status),
 * SK2F2_PROBE_SIGNALED (the signal in *status), SK2F2_PROBE_TIMEOUT (killed after timeout_ms),
 * SK2F2_ERR_UNAVAILABLE, or SK2F2_ERR_ARG / SK2F2_ERR_SYSTEM (fork, pipe or poll failed; errno
 * in *status). */
int32_t sk2f2_probe_pipeline(int32_t pipeline, int32_t timeout_ms, char *output, size_t len,
                             int32_t *status);

/* A new library context, or NULL if libfreenect2 failed to initialise (e.g. libusb). */
sk2f2_context *sk2f2_context_new(void);
/* Frees the context. Every device opened from it must have been closed first. */
void sk2f2_context_free(sk2f2_context *ctx);

/* Scans USB; returns the number of Kinect v2 devices (>= 0) or a negative status. */
int32_t sk2f2_enumerate(sk2f2_context *ctx);
/* Writes the serial of device `index` (from the last enumeration) into `buf` with a NUL,
 * truncated to `len`; returns its full length in bytes (without NUL) or a negative status. */
int64_t sk2f2_serial(sk2f2_context *ctx, int32_t index, char *buf, size_t len);

/* Opens the device with this serial on a new pipeline (the depth pipeline `pipeline`, colour
 * passed through), sets the depth range (metres) and attaches the depth+IR and the colour
 * listeners. On success stores the handle in *out. The caller must not open a device twice in one
 * context: libfreenect2 would return the same device object again. */
int32_t sk2f2_open(sk2f2_context *ctx, const char *serial, int32_t pipeline, float min_depth_m,
                   float max_depth_m, sk2f2_device **out);

/* Starts depth and IR, and colour if `color` is non-zero, then reads the camera parameters
 * the device reported (sk2f2_camera_params). Frames left in the listeners from an earlier run
 * are discarded first, so the first frames waited for are new ones. */
int32_t sk2f2_start(sk2f2_device *dev, int32_t color);

/* Copies the factory calibration read by the last successful sk2f2_start (either pointer may be
 * NULL). SK2F2_ERR_STATE if the device was never started: libfreenect2 reads the parameters
 * from the device while starting, and they are undefined before. */
int32_t sk2f2_camera_params(sk2f2_device *dev, struct sk2f2_ir_params *ir,
                            struct sk2f2_color_params *color);

/* Waits up to timeout_ms for a depth frame and the IR frame of the same packet. Returns 1 and
 * fills *depth and *ir (valid until sk2f2_release_frame), 0 on timeout, or a negative status. At
 * most one pair is held: it must be released before waiting again. Meanwhile libfreenect2
 * (C++11 threading) keeps the newest pair that arrives in a pending slot, deleting the one it
 * replaces; the next wait returns it at once. */
int32_t sk2f2_wait_depth(sk2f2_device *dev, int32_t timeout_ms, struct sk2f2_frame *depth,
                         struct sk2f2_frame *ir);
/* Gives the held depth and IR frames back to libfreenect2 (which frees them). */
int32_t sk2f2_release_frame(sk2f2_device *dev);

/* Like sk2f2_wait_depth, for the colour stream (a device started with colour): fills *out with
 * the device's JPEG (format Raw, its length in bytes_per_pixel). */
int32_t sk2f2_wait_color(sk2f2_device *dev, int32_t timeout_ms, struct sk2f2_frame *out);
/* Gives the held colour frame back to libfreenect2. */
int32_t sk2f2_release_color(sk2f2_device *dev);

/* Stops streaming (releasing any held frames). Stopping a stopped device is not an error. */
int32_t sk2f2_stop(sk2f2_device *dev);

/* Stops, closes and frees the device, its listener and any held frame; `dev` is invalid after.
 * Must be called before the context it was opened from is freed. */
void sk2f2_close(sk2f2_device *dev);

#ifdef __cplusplus
}
#endif
#endif
