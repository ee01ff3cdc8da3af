// Building libfreenect2 packet pipelines: the one a device is opened with (the chosen depth
// pipeline, colour passed through as the device's JPEG), and the probe that builds a pipeline in
// a child process because libfreenect2's OpenGL pipeline may end the process.

#include "shim_internal.h"

#include <libfreenect2/logger.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

// Depth from one pipeline, colour from another. A libfreenect2 device reaches its pipeline only
// through PacketPipeline's four virtual getters (libfreenect2.cpp: the USB transfer pools take
// the two parsers; the listeners and calibration go to the two processors), and each pipeline
// wired its parsers to its own processors when it was built. So returning the colour parser and
// processor of a DumpPacketPipeline and the IR parser and depth processor of a decoding pipeline
// gives a device whose depth is decoded and whose colour frames are the JPEG bytes the Kinect
// sent (DumpRgbPacketProcessor: Frame::Raw, length in bytes_per_pixel). The base class's own
// components stay empty (its constructor leaves them NULL; its destructor frees nothing). Each
// inner pipeline keeps its other half idle: an unfed processor thread apiece.
class ColorPassthroughPipeline : public libfreenect2::PacketPipeline
{
public:
  // Takes ownership of `depth`, also if this constructor throws.
  explicit ColorPassthroughPipeline(libfreenect2::PacketPipeline *depth) : depth_(depth), color_(NULL)
  {
    try
    {
      color_ = new libfreenect2::DumpPacketPipeline();
    }
    catch (...)
    {
      delete depth_;
      throw;
    }
  }

  virtual ~ColorPassthroughPipeline()
  {
    delete color_;
    delete depth_;
  }

  virtual PacketParser *getRgbPacketParser() const { return color_->getRgbPacketParser(); }
  virtual PacketParser *getIrPacketParser() const { return depth_->getIrPacketParser(); }
  virtual libfreenect2::RgbPacketProcessor *getRgbPacketProcessor() const
  {
    return color_->getRgbPacketProcessor();
  }
  virtual libfreenect2::DepthPacketProcessor *getDepthPacketProcessor() const
  {
    return depth_->getDepthPacketProcessor();
  }

private:
  libfreenect2::PacketPipeline *depth_;
  libfreenect2::DumpPacketPipeline *color_;

  ColorPassthroughPipeline(const ColorPassthroughPipeline &);
  ColorPassthroughPipeline &operator=(const ColorPassthroughPipeline &);
};

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

} // namespace

libfreenect2::PacketPipeline *sk2f2::new_passthrough_pipeline(int32_t kind)
{
  libfreenect2::PacketPipeline *depth = new_pipeline(kind);
  if (depth == NULL)
    return NULL;
  return new ColorPassthroughPipeline(depth);
}

// libfreenect2 logs at Info level to the console by default: a dozen lines per device open,
// which would bury the server's own one-line errors. Unless the user chose a level with
// libfreenect2's own LIBFREENECT2_LOGGER_LEVEL, keep its warnings and errors only. Once per
// process, before the first context (libfreenect2 takes ownership of the logger).
void sk2f2::quiet_libfreenect2_logging()
{
  static std::once_flag once;
  std::call_once(once, [] {
    if (std::getenv("LIBFREENECT2_LOGGER_LEVEL") == NULL)
      libfreenect2::setGlobalLogger(libfreenect2::createConsoleLogger(libfreenect2::Logger::Warning));
  });
}

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
    sk2f2::quiet_libfreenect2_logging(); // the child logs like the parent will
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

