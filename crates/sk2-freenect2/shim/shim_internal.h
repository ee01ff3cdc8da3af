// What the shim's two source files share: the handles' definitions and the pipeline helpers.
// pipelines.cpp: building pipelines (the colour passthrough one, the probe in a child process);
// device.cpp: the context, the device and its frames.
#ifndef SK2_FREENECT2_SHIM_INTERNAL_H
#define SK2_FREENECT2_SHIM_INTERNAL_H

#include "sk2_freenect2_shim.h"

#include <libfreenect2/frame_listener_impl.h>
#include <libfreenect2/libfreenect2.hpp>
#include <libfreenect2/packet_pipeline.h>

struct sk2f2_context
{
  libfreenect2::Freenect2 freenect2;
};

struct sk2f2_device
{
  libfreenect2::Freenect2Device *device;
  libfreenect2::SyncMultiFrameListener *depth_listener; // depth and IR
  libfreenect2::SyncMultiFrameListener *color_listener;
  libfreenect2::FrameMap held;       // depth and IR taken by wait_depth, not yet released
  libfreenect2::FrameMap held_color; // colour taken by wait_color, not yet released
  bool holding;
  bool holding_color;
  bool started;
  bool have_params; // ir_params and color_params were read by a successful start
  struct sk2f2_ir_params ir_params;
  struct sk2f2_color_params color_params;
};

namespace sk2f2
{

// A new pipeline for `kind`: its depth processor decodes depth and IR, and colour passes
// through undecoded (libfreenect2's DumpPacketPipeline). NULL if this libfreenect2 lacks the
// kind. May throw.
libfreenect2::PacketPipeline *new_passthrough_pipeline(int32_t kind);

// Keeps libfreenect2's console logging at Warning unless LIBFREENECT2_LOGGER_LEVEL says
// otherwise. Once per process.
void quiet_libfreenect2_logging();

} // namespace sk2f2

#endif
