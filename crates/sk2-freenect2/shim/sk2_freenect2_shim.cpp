// The C++ side of sk2-freenect2: see sk2_freenect2_shim.h for the contract. The subset of
// libfreenect2 used here is listed in docs/freenect2.md; the test stand-in declares exactly it.

#include "sk2_freenect2_shim.h"

#include <libfreenect2/frame_listener_impl.h>
#include <libfreenect2/libfreenect2.hpp>
#include <libfreenect2/logger.h>
#include <libfreenect2/packet_pipeline.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

// Milliseconds on a monotonic clock.
int64_t now_ms()
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// The child side of sk2f2_probe_pipeline: never returns.
void probe_child(int32_t kind, int out_fd)
{
  dup2(out_fd, STDOUT_FILENO);
  dup2(out_fd, STDERR_FILENO);
  if (out_fd != STDOUT_FILENO && out_fd != STDERR_FILENO)
    close(out_fd);
  int code = 3;
  try
  {
    // Deleted like any pipeline (it also shows that its destructor returns), so that a leak
    // checker running in the child (valgrind follows forks) has nothing to report.
    libfreenect2::PacketPipeline *pipeline = new_pipeline(kind);
    code = pipeline != NULL ? 0 : 3;
    delete pipeline;
  }
  catch (...)
  {
    code = 4;
  }
  // _exit, not exit: the parent's atexit handlers and stdio buffers are not the child's to run.
  _exit(code);
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

extern "C" int32_t sk2f2_probe_pipeline(int32_t pipeline, int32_t timeout_ms, char *output,
                                        size_t len, int32_t *status)
{
  if (status == NULL || timeout_ms < 0 || (output == NULL && len > 0))
    return SK2F2_ERR_ARG;
  *status = 0;
  if (len > 0)
    output[0] = '\0';
  if (!sk2f2_pipeline_available(pipeline))
    return SK2F2_ERR_UNAVAILABLE;
  try
  {
    quiet_libfreenect2_logging(); // the child logs like the parent will
  }
  catch (...)
  {
  }
  int fds[2];
  if (pipe(fds) != 0)
  {
    *status = errno;
    return SK2F2_ERR_SYSTEM;
  }
  // Close-on-exec, so that programs the caller's other threads start never hold the pipe open
  // (pipe2 would do it atomically, but is not on every Unix).
  fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  fcntl(fds[1], F_SETFD, FD_CLOEXEC);
  // Unwritten stdio output would otherwise be written twice, once by each process.
  std::fflush(NULL);
  const pid_t pid = fork();
  if (pid < 0)
  {
    *status = errno;
    close(fds[0]);
    close(fds[1]);
    return SK2F2_ERR_SYSTEM;
  }
  if (pid == 0)
  {
    close(fds[0]);
    probe_child(pipeline, fds[1]);
  }
  close(fds[1]);

  // Keep the tail of the child's output; wait for end of output and for the child, up to the
  // deadline (the child may hang in a graphics driver).
  std::string tail;
  const size_t keep = len > 0 ? len - 1 : 0;
  const int64_t deadline = now_ms() + timeout_ms;
  bool output_open = true;
  int wait_status = 0;
  bool exited = false;
  int32_t result = SK2F2_OK;
  while (!exited)
  {
    const int64_t left = deadline - now_ms();
    if (left <= 0)
    {
      kill(pid, SIGKILL);
      waitpid(pid, &wait_status, 0);
      result = SK2F2_PROBE_TIMEOUT;
      break;
    }
    if (output_open)
    {
      struct pollfd pfd;
      pfd.fd = fds[0];
      pfd.events = POLLIN;
      pfd.revents = 0;
      const int ready = poll(&pfd, 1, static_cast<int>(left < 50 ? left : 50));
      if (ready < 0 && errno != EINTR)
      {
        *status = errno;
        kill(pid, SIGKILL);
        waitpid(pid, &wait_status, 0);
        close(fds[0]);
        return SK2F2_ERR_SYSTEM;
      }
      if (ready > 0)
      {
        char buf[512];
        const ssize_t n = read(fds[0], buf, sizeof(buf));
        if (n > 0)
        {
          tail.append(buf, static_cast<size_t>(n));
          if (tail.size() > keep)
            tail.erase(0, tail.size() - keep);
        }
        else if (n == 0 || (errno != EINTR && errno != EAGAIN))
        {
          output_open = false;
        }
      }
    }
    else
    {
      struct timespec pause = {0, 10 * 1000 * 1000};
      nanosleep(&pause, NULL);
    }
    const pid_t done = waitpid(pid, &wait_status, WNOHANG);
    if (done == pid)
      exited = true;
    else if (done < 0 && errno != EINTR)
    {
      *status = errno;
      close(fds[0]);
      return SK2F2_ERR_SYSTEM;
    }
  }
  // Whatever the child wrote just before it ended.
  if (output_open)
  {
    const int flags = fcntl(fds[0], F_GETFL);
    fcntl(fds[0], F_SETFL, flags | O_NONBLOCK);
    char buf[512];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof(buf))) > 0)
    {
      tail.append(buf, static_cast<size_t>(n));
      if (tail.size() > keep)
        tail.erase(0, tail.size() - keep);
    }
  }
  close(fds[0]);
  if (len > 0)
  {
    std::memcpy(output, tail.data(), tail.size());
    output[tail.size()] = '\0';
  }
  if (result == SK2F2_PROBE_TIMEOUT)
    return result;
  if (WIFEXITED(wait_status))
  {
    *status = WEXITSTATUS(wait_status);
    return *status == 0 ? SK2F2_OK : SK2F2_PROBE_EXITED;
  }
  if (WIFSIGNALED(wait_status))
  {
    *status = WTERMSIG(wait_status);
    return SK2F2_PROBE_SIGNALED;
  }
  return SK2F2_PROBE_EXITED;
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
#ifdef LIBFREENECT2_THREADING_STDLIB
    // libfreenect2 keeps a frame that arrived after the last wait in the listener across
    // stop(): the first wait of this run would return that old frame. (Without C++11 threading
    // the wait cannot poll without blocking, so such a frame may be returned once.)
    libfreenect2::FrameMap stale;
    if (dev->listener->waitForNewFrame(stale, 0))
      dev->listener->release(stale);
#endif
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
