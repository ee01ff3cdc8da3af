// The C++ side of sk2-freenect2: see sk2_freenect2_shim.h for the contract. The subset of
// libfreenect2 used here is listed in docs/freenect2.md; the test stand-in declares exactly it.

#include "sk2_freenect2_shim.h"

#include <libfreenect2/frame_listener_impl.h>
#include <libfreenect2/libfreenect2.hpp>
#include <libfreenect2/logger.h>
#include <libfreenect2/packet_pipeline.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>

#ifndef LIBFREENECT2_THREADING_STDLIB
// Without C++11 threading, SyncMultiFrameListener::waitForNewFrame ignores its timeout: stopping
// a sensor then waits for the next frame, forever if the Kinect was unplugged.
#warning "libfreenect2 was built without C++11 threading: stopping a sensor may hang without frames"
#endif

struct sk2f2_context
{
  libfreenect2::Freenect2 freenect2;
};

struct sk2f2_device
{
  libfreenect2::Freenect2Device *device;
  libfreenect2::SyncMultiFrameListener *listener;
  libfreenect2::FrameMap held; // frames taken by wait_depth, not yet released
  bool holding;
  bool started;
};

namespace
{

// A new pipeline of the given kind, or NULL if this libfreenect2 lacks it.
libfreenect2::PacketPipeline *new_pipeline(int32_t kind)
{
  switch (kind)
  {
  case SK2F2_PIPELINE_CPU:
    return new libfreenect2::CpuPacketPipeline();
#ifdef LIBFREENECT2_WITH_OPENGL_SUPPORT
  case SK2F2_PIPELINE_OPENGL:
    return new libfreenect2::OpenGLPacketPipeline();
#endif
#ifdef LIBFREENECT2_WITH_OPENCL_SUPPORT
  case SK2F2_PIPELINE_OPENCL:
    return new libfreenect2::OpenCLPacketPipeline();
#endif
#ifdef LIBFREENECT2_WITH_CUDA_SUPPORT
  case SK2F2_PIPELINE_CUDA:
    return new libfreenect2::CudaPacketPipeline();
#endif
  default:
    return NULL;
  }
}

// libfreenect2 logs at Info level to the console by default: a dozen lines per device open,
// which would bury the server's own one-line errors. Unless the user chose a level with
// libfreenect2's own LIBFREENECT2_LOGGER_LEVEL, keep its warnings and errors only. Once per
// process, before the first context (libfreenect2 takes ownership of the logger).
void quiet_libfreenect2_logging()
{
  static std::once_flag once;
  std::call_once(once, [] {
    if (std::getenv("LIBFREENECT2_LOGGER_LEVEL") == NULL)
      libfreenect2::setGlobalLogger(libfreenect2::createConsoleLogger(libfreenect2::Logger::Warning));
  });
}

void release_held(sk2f2_device *dev)
{
  if (dev->holding)
  {
    dev->listener->release(dev->held);
    dev->holding = false;
  }
}

} // namespace

extern "C" int32_t sk2f2_pipeline_available(int32_t pipeline)
{
  switch (pipeline)
  {
  case SK2F2_PIPELINE_CPU:
    return 1;
#ifdef LIBFREENECT2_WITH_OPENGL_SUPPORT
  case SK2F2_PIPELINE_OPENGL:
    return 1;
#endif
#ifdef LIBFREENECT2_WITH_OPENCL_SUPPORT
  case SK2F2_PIPELINE_OPENCL:
    return 1;
#endif
#ifdef LIBFREENECT2_WITH_CUDA_SUPPORT
  case SK2F2_PIPELINE_CUDA:
    return 1;
#endif
  default:
    return 0;
  }
}

extern "C" sk2f2_context *sk2f2_context_new(void)
{
  try
  {
    quiet_libfreenect2_logging();
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
    dev->listener = NULL;
    dev->holding = false;
    dev->started = false;
    // openDevice takes the pipeline in every case (it deletes it on failure), so it is never
    // freed here.
    libfreenect2::PacketPipeline *factory = new_pipeline(pipeline);
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
    // Depth only: the listener refuses IR frames, so the driver reuses their buffers at once.
    dev->listener = new libfreenect2::SyncMultiFrameListener(libfreenect2::Frame::Depth);
    dev->device->setIrAndDepthFrameListener(dev->listener);
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
      delete dev->listener;
      delete dev;
    }
    return SK2F2_ERR_EXCEPTION;
  }
}

extern "C" int32_t sk2f2_start_depth(sk2f2_device *dev)
{
  if (dev == NULL)
    return SK2F2_ERR_ARG;
  try
  {
    if (!dev->device->startStreams(false, true))
      return SK2F2_ERR_START;
    dev->started = true;
    return SK2F2_OK;
  }
  catch (...)
  {
    return SK2F2_ERR_EXCEPTION;
  }
}

extern "C" int32_t sk2f2_wait_depth(sk2f2_device *dev, int32_t timeout_ms, struct sk2f2_frame *out)
{
  if (dev == NULL || out == NULL || timeout_ms < 0)
    return SK2F2_ERR_ARG;
  if (dev->holding)
    return SK2F2_ERR_STATE;
  try
  {
    if (!dev->listener->waitForNewFrame(dev->held, timeout_ms))
      return 0;
    dev->holding = true;
    libfreenect2::FrameMap::iterator it = dev->held.find(libfreenect2::Frame::Depth);
    if (it == dev->held.end() || it->second == NULL)
    {
      release_held(dev);
      return SK2F2_ERR_STATE;
    }
    const libfreenect2::Frame *frame = it->second;
    out->data = frame->data;
    out->width = frame->width;
    out->height = frame->height;
    out->bytes_per_pixel = frame->bytes_per_pixel;
    out->format = static_cast<int32_t>(frame->format);
    out->timestamp = frame->timestamp;
    out->sequence = frame->sequence;
    out->status = frame->status;
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

extern "C" int32_t sk2f2_stop(sk2f2_device *dev)
{
  if (dev == NULL)
    return SK2F2_ERR_ARG;
  try
  {
    release_held(dev);
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
    if (dev->started)
      dev->device->stop();
    dev->device->close();
    // The device goes first: it must stop calling the listener before the listener is freed.
    delete dev->device;
  }
  catch (...)
  {
    // Nothing sensible to do; still free what we own below.
  }
  try
  {
    delete dev->listener;
  }
  catch (...)
  {
  }
  delete dev;
}
