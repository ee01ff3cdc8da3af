/* The C interface between sk2-freenect2 (Rust) and libfreenect2 (C++).
 *
 * libfreenect2 has no C API, so this shim wraps the few C++ calls the crate needs. The Rust
 * declarations in src/ffi.rs mirror this file by hand; keep them in step.
 *
 * Rules that hold for every function:
 *   - No C++ exception ever crosses this boundary: each body catches everything and reports
 *     SK2F2_ERR_EXCEPTION (unwinding into Rust would be undefined behaviour).
 *   - Handles are created and freed only here; NULL handles are rejected with SK2F2_ERR_ARG.
 *   - One handle is used by one thread at a time (the Rust side guarantees it).
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

/* A depth frame held by the device handle until sk2f2_release_frame. `data` points into
 * libfreenect2's frame buffer: width * height * bytes_per_pixel bytes. */
struct sk2f2_frame
{
  const unsigned char *data;
  size_t width;
  size_t height;
  size_t bytes_per_pixel;
  int32_t format;     /* libfreenect2::Frame::Format; 2 = Float */
  uint32_t timestamp; /* device ticks of 0.125 ms */
  uint32_t sequence;  /* device frame counter */
  uint32_t status;    /* 0 if ok */
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

/* Opens the device with this serial on a new pipeline, sets the depth range (metres) and
 * attaches a depth-only listener. On success stores the handle in *out. The caller must not open
 * a device twice in one context: libfreenect2 would return the same device object again. */
int32_t sk2f2_open(sk2f2_context *ctx, const char *serial, int32_t pipeline, float min_depth_m,
                   float max_depth_m, sk2f2_device **out);

/* Starts the depth stream only (no colour). A frame left in the listener from an earlier run
 * is discarded first, so the first frame waited for is a new one. */
int32_t sk2f2_start_depth(sk2f2_device *dev);

/* Waits up to timeout_ms for a depth frame. Returns 1 and fills *out (the frame stays valid
 * until sk2f2_release_frame), 0 on timeout, or a negative status. At most one frame is held:
 * a held frame must be released before waiting again. Meanwhile libfreenect2 (C++11 threading)
 * keeps the newest frame that arrives in a pending slot, deleting the one it replaces; the next
 * wait returns it at once. */
int32_t sk2f2_wait_depth(sk2f2_device *dev, int32_t timeout_ms, struct sk2f2_frame *out);
/* Gives the held frame back to libfreenect2 (which frees it). */
int32_t sk2f2_release_frame(sk2f2_device *dev);

/* Stops streaming (releasing any held frame). Stopping a stopped device is not an error. */
int32_t sk2f2_stop(sk2f2_device *dev);

/* Stops, closes and frees the device, its listener and any held frame; `dev` is invalid after.
 * Must be called before the context it was opened from is freed. */
void sk2f2_close(sk2f2_device *dev);

#ifdef __cplusplus
}
#endif
#endif
