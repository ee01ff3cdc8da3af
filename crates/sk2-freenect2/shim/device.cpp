// The shim's context and device calls: enumerate, open, start, the depth+IR and colour frame
// hand-off, camera parameters, stop and close. See sk2_freenect2_shim.h for the contract.

#include "shim_internal.h"

#include <cstring>
#include <new>
#include <string>

#ifndef LIBFREENECT2_THREADING_STDLIB
// Without C++11 threading, SyncMultiFrameListener::waitForNewFrame ignores its timeout: stopping
// a sensor then waits for the next frame, forever if the Kinect was unplugged.
#warning "libfreenect2 was built without C++11 threading: stopping a sensor may hang without frames"
#endif

namespace
{

void release_held(sk2f2_device *dev)
{
  if (dev->holding)
  {
    dev->depth_listener->release(dev->held);
    dev->holding = false;
  }
}

void release_held_color(sk2f2_device *dev)
{
  if (dev->holding_color)
  {
    dev->color_listener->release(dev->held_color);
    dev->holding_color = false;
  }
}

// Describes `frame` in `out`.
void describe(const libfreenect2::Frame *frame, struct sk2f2_frame *out)
{
  out->data = frame->data;
  out->width = frame->width;
  out->height = frame->height;
  out->bytes_per_pixel = frame->bytes_per_pixel;
  out->format = static_cast<int32_t>(frame->format);
  out->timestamp = frame->timestamp;
  out->sequence = frame->sequence;
  out->status = frame->status;
}

// The frame of `type` in `frames`, or NULL.
const libfreenect2::Frame *find(const libfreenect2::FrameMap &frames, libfreenect2::Frame::Type type)
{
  libfreenect2::FrameMap::const_iterator it = frames.find(type);
  return it == frames.end() ? NULL : it->second;
}

#ifdef LIBFREENECT2_THREADING_STDLIB
// Discards a frame set left in `listener` by an earlier run. (Without C++11 threading the wait
// cannot poll without blocking, so such a frame may be returned once.)
void discard_stale(libfreenect2::SyncMultiFrameListener *listener)
{
  libfreenect2::FrameMap stale;
  if (listener->waitForNewFrame(stale, 0))
    listener->release(stale);
}
#endif

void copy_params(libfreenect2::Freenect2Device *device, sk2f2_device *dev)
{
  const libfreenect2::Freenect2Device::IrCameraParams ir = device->getIrCameraParams();
  dev->ir_params.fx = ir.fx;
  dev->ir_params.fy = ir.fy;
  dev->ir_params.cx = ir.cx;
  dev->ir_params.cy = ir.cy;
  dev->ir_params.k1 = ir.k1;
  dev->ir_params.k2 = ir.k2;
  dev->ir_params.k3 = ir.k3;
  dev->ir_params.p1 = ir.p1;
  dev->ir_params.p2 = ir.p2;
  const libfreenect2::Freenect2Device::ColorCameraParams c = device->getColorCameraParams();
  struct sk2f2_color_params &out = dev->color_params;
  out.fx = c.fx;
  out.fy = c.fy;
  out.cx = c.cx;
  out.cy = c.cy;
  out.shift_d = c.shift_d;
  out.shift_m = c.shift_m;
  const float mx[10] = {c.mx_x3y0, c.mx_x0y3, c.mx_x2y1, c.mx_x1y2, c.mx_x2y0,
                        c.mx_x0y2, c.mx_x1y1, c.mx_x1y0, c.mx_x0y1, c.mx_x0y0};
  const float my[10] = {c.my_x3y0, c.my_x0y3, c.my_x2y1, c.my_x1y2, c.my_x2y0,
                        c.my_x0y2, c.my_x1y1, c.my_x1y0, c.my_x0y1, c.my_x0y0};
  std::memcpy(out.mx, mx, sizeof(mx));
  std::memcpy(out.my, my, sizeof(my));
  dev->have_params = true;
}

} // namespace

extern "C" sk2f2_context *sk2f2_context_new(void)
{
  try
  {
    sk2f2::quiet_libfreenect2_logging();
    return new sk2f2_context();
  }
  catch (...)
  {
    return NULL;
  }
}

extern "C" void sk2f2_context_free(sk2f2_context *ctx)
{
  try
  {
    delete ctx;
  }
  catch (...)
  {
    // A throwing destructor would be a libfreenect2 bug; never let it unwind into Rust.
  }
}

extern "C" int32_t sk2f2_enumerate(sk2f2_context *ctx)
{
  if (ctx == NULL)
    return SK2F2_ERR_ARG;
  try
  {
    const int n = ctx->freenect2.enumerateDevices();
    return n < 0 ? 0 : n;
  }
  catch (...)
  {
    return SK2F2_ERR_EXCEPTION;
  }
}

extern "C" int64_t sk2f2_serial(sk2f2_context *ctx, int32_t index, char *buf, size_t len)
{
  if (ctx == NULL || index < 0 || (buf == NULL && len > 0))
    return SK2F2_ERR_ARG;
  try
  {
    const std::string serial = ctx->freenect2.getDeviceSerialNumber(index);
    if (len > 0)
    {
      const size_t n = serial.size() < len - 1 ? serial.size() : len - 1;
      std::memcpy(buf, serial.data(), n);
      buf[n] = '\0';
    }
    return static_cast<int64_t>(serial.size());
  }
  catch (...)
  {
    return SK2F2_ERR_EXCEPTION;
  }
}

extern "C" int32_t sk2f2_open(sk2f2_context *ctx, const char *serial, int32_t pipeline,
                              float min_depth_m, float max_depth_m, sk2f2_device **out)
{
  if (ctx == NULL || serial == NULL || out == NULL)
    return SK2F2_ERR_ARG;
  *out = NULL;
  if (!sk2f2_pipeline_available(pipeline))
    return SK2F2_ERR_UNAVAILABLE;
  sk2f2_device *dev = NULL;
  try
  {
    dev = new sk2f2_device();
    dev->device = NULL;
    dev->depth_listener = NULL;
    dev->color_listener = NULL;
    dev->holding = false;
    dev->holding_color = false;
    dev->started = false;
    dev->have_params = false;
    // openDevice takes the pipeline in every case (it deletes it on failure), so it is never
    // freed here.
    libfreenect2::PacketPipeline *factory = sk2f2::new_passthrough_pipeline(pipeline);
    dev->device = ctx->freenect2.openDevice(std::string(serial), factory);
    if (dev->device == NULL)
    {
      delete dev;
      return SK2F2_ERR_OPEN;
    }
    libfreenect2::Freenect2Device::Config config;
    config.MinDepth = min_depth_m;
    config.MaxDepth = max_depth_m;
    dev->device->setConfiguration(config);
    // IR and depth of one packet in one listener, so that each wait returns a matching pair;
    // colour (its own packets, its own clock) in another, so neither waits for the other.
    dev->depth_listener = new libfreenect2::SyncMultiFrameListener(libfreenect2::Frame::Ir |
                                                                   libfreenect2::Frame::Depth);
    dev->device->setIrAndDepthFrameListener(dev->depth_listener);
    dev->color_listener = new libfreenect2::SyncMultiFrameListener(libfreenect2::Frame::Color);
    dev->device->setColorFrameListener(dev->color_listener);
    *out = dev;
    return SK2F2_OK;
  }
  catch (...)
  {
    if (dev != NULL)
    {
      if (dev->device != NULL)
      {
        try
        {
          dev->device->close();
          delete dev->device;
        }
        catch (...)
        {
        }
      }
      delete dev->depth_listener;
      delete dev->color_listener;
      delete dev;
    }
    return SK2F2_ERR_EXCEPTION;
  }
}

extern "C" int32_t sk2f2_start(sk2f2_device *dev, int32_t color)
{
  if (dev == NULL)
    return SK2F2_ERR_ARG;
  try
  {
#ifdef LIBFREENECT2_THREADING_STDLIB
    // libfreenect2 keeps a frame that arrived after the last wait in the listener across
    // stop(): the first wait of this run would return that old frame.
    discard_stale(dev->depth_listener);
    discard_stale(dev->color_listener);
#endif
    if (!dev->device->startStreams(color != 0, true))
      return SK2F2_ERR_START;
    dev->started = true;
    // startStreams read them from the device; they are undefined before.
    copy_params(dev->device, dev);
    return SK2F2_OK;
  }
  catch (...)
  {
    return SK2F2_ERR_EXCEPTION;
  }
}

extern "C" int32_t sk2f2_camera_params(sk2f2_device *dev, struct sk2f2_ir_params *ir,
                                       struct sk2f2_color_params *color)
{
  if (dev == NULL)
    return SK2F2_ERR_ARG;
  if (!dev->have_params)
    return SK2F2_ERR_STATE;
  if (ir != NULL)
    *ir = dev->ir_params;
  if (color != NULL)
    *color = dev->color_params;
  return SK2F2_OK;
}

extern "C" int32_t sk2f2_wait_depth(sk2f2_device *dev, int32_t timeout_ms,
                                    struct sk2f2_frame *depth, struct sk2f2_frame *ir)
{
  if (dev == NULL || depth == NULL || ir == NULL || timeout_ms < 0)
    return SK2F2_ERR_ARG;
  if (dev->holding)
    return SK2F2_ERR_STATE;
  try
  {
    if (!dev->depth_listener->waitForNewFrame(dev->held, timeout_ms))
      return 0;
    dev->holding = true;
    const libfreenect2::Frame *depth_frame = find(dev->held, libfreenect2::Frame::Depth);
    const libfreenect2::Frame *ir_frame = find(dev->held, libfreenect2::Frame::Ir);
    if (depth_frame == NULL || ir_frame == NULL)
    {
      release_held(dev);
      return SK2F2_ERR_STATE;
    }
    describe(depth_frame, depth);
    describe(ir_frame, ir);
    return 1;
  }
  catch (...)
  {
    return SK2F2_ERR_EXCEPTION;
  }
}

extern "C" int32_t sk2f2_release_frame(sk2f2_device *dev)
{
  if (dev == NULL)
    return SK2F2_ERR_ARG;
  if (!dev->holding)
    return SK2F2_ERR_STATE;
  try
  {
    release_held(dev);
    return SK2F2_OK;
  }
  catch (...)
  {
    return SK2F2_ERR_EXCEPTION;
  }
}

extern "C" int32_t sk2f2_wait_color(sk2f2_device *dev, int32_t timeout_ms, struct sk2f2_frame *out)
{
  if (dev == NULL || out == NULL || timeout_ms < 0)
    return SK2F2_ERR_ARG;
  if (dev->holding_color)
    return SK2F2_ERR_STATE;
  try
  {
    if (!dev->color_listener->waitForNewFrame(dev->held_color, timeout_ms))
      return 0;
    dev->holding_color = true;
    const libfreenect2::Frame *frame = find(dev->held_color, libfreenect2::Frame::Color);
    if (frame == NULL)
    {
      release_held_color(dev);
      return SK2F2_ERR_STATE;
    }
    describe(frame, out);
    return 1;
  }
  catch (...)
  {
    return SK2F2_ERR_EXCEPTION;
  }
}

extern "C" int32_t sk2f2_release_color(sk2f2_device *dev)
{
  if (dev == NULL)
    return SK2F2_ERR_ARG;
  if (!dev->holding_color)
    return SK2F2_ERR_STATE;
  try
  {
    release_held_color(dev);
    return SK2F2_OK;
  }
  catch (...)
  {
    return SK2F2_ERR_EXCEPTION;
  }
}

extern "C" int32_t sk2f2_stop(sk2f2_device *dev)
{
  if (dev == NULL)
    return SK2F2_ERR_ARG;
  try
  {
    release_held(dev);
    release_held_color(dev);
    if (dev->started)
    {
      dev->device->stop();
      dev->started = false;
    }
    return SK2F2_OK;
  }
  catch (...)
  {
    return SK2F2_ERR_EXCEPTION;
  }
}

extern "C" void sk2f2_close(sk2f2_device *dev)
{
  if (dev == NULL)
    return;
  try
  {
    release_held(dev);
    release_held_color(dev);
    if (dev->started)
      dev->device->stop();
    dev->device->close();
    // The device goes first: it must stop calling the listeners before they are freed.
    delete dev->device;
  }
  catch (...)
  {
    // Nothing sensible to do; still free what we own below.
  }
  try
  {
    delete dev->depth_listener;
    delete dev->color_listener;
  }
  catch (...)
  {
  }
  delete dev;
}
