// Prints golden numbers from libfreenect2's own Registration (src/registration.cpp, compiled
// unmodified) for synthetic depth frames, as JSON. See README.md beside this file.
#include <libfreenect2/registration.h>
#include <cstdio>
#include <cstring>
#include <cmath>
#include <vector>
#include <string>
#include <stdint.h>

namespace libfreenect2 {
Frame::Frame(size_t w, size_t h, size_t bpp, unsigned char *d)
  : width(w), height(h), bytes_per_pixel(bpp), data(d), timestamp(0), sequence(0),
    exposure(0), gain(0), gamma(0), status(0), format(Frame::Invalid), rawdata(NULL) {}
Frame::~Frame() {}
}
using namespace libfreenect2;

static const int W = 512, H = 424, CW = 1920, CH = 1080;

struct Fnv { uint64_t h = 0xcbf29ce484222325ull;
  void bytes(const void *p, size_t n) { const unsigned char *b = (const unsigned char *)p;
    for (size_t i = 0; i < n; ++i) { h ^= b[i]; h *= 0x100000001b3ull; } }
  void u32(uint32_t v) { unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16), (unsigned char)(v >> 24)}; bytes(b, 4); }
  void f32(float f) { uint32_t v; if (std::isnan(f)) v = 0x7fc00000u; else memcpy(&v, &f, 4); u32(v); }
};

// Integer-only depth generators, so any language reproduces them exactly.
static uint16_t depth_wall_sphere(int x, int y) {
  if ((x * 7 + y * 13) % 97 == 0) return 0;              // scattered holes
  int dx = x - 256, dy = y - 212, r2 = dx * dx + dy * dy;
  if (r2 < 90 * 90) return (uint16_t)(1100 + r2 / 20);   // a bowl in front
  return 2600;                                            // the wall
}
static uint16_t depth_ramp(int x, int y) {
  if (y < 4 || x > 505) return 0;                         // hole bands at edges
  return (uint16_t)(500 + x * 6 + y * 2);                 // 500 .. ~4400 mm
}
static uint16_t depth_noise(int x, int y) {
  uint32_t s = (uint32_t)(y * W + x) * 2654435761u + 12345u;
  s ^= s >> 15; s *= 2246822519u; s ^= s >> 13;
  if (s % 10 == 0) return 0;
  return (uint16_t)(400 + (s >> 8) % 4200);               // occlusion-heavy
}

struct Params { const char *name; Freenect2Device::IrCameraParams d; Freenect2Device::ColorCameraParams c; };

static void print_params(const Params &p) {
  const Freenect2Device::IrCameraParams &d = p.d; const Freenect2Device::ColorCameraParams &c = p.c;
  printf("{\"name\":\"%s\",\"depth\":{\"fx\":%.9g,\"fy\":%.9g,\"cx\":%.9g,\"cy\":%.9g,\"k1\":%.9g,\"k2\":%.9g,\"k3\":%.9g,\"p1\":%.9g,\"p2\":%.9g},",
         p.name, d.fx, d.fy, d.cx, d.cy, d.k1, d.k2, d.k3, d.p1, d.p2);
  printf("\"color\":{\"fx\":%.9g,\"fy\":%.9g,\"cx\":%.9g,\"cy\":%.9g,\"shift_d\":%.9g,\"shift_m\":%.9g,", c.fx, c.fy, c.cx, c.cy, c.shift_d, c.shift_m);
  printf("\"mx\":[%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g],", c.mx_x3y0, c.mx_x0y3, c.mx_x2y1, c.mx_x1y2, c.mx_x2y0, c.mx_x0y2, c.mx_x1y1, c.mx_x1y0, c.mx_x0y1, c.mx_x0y0);
  printf("\"my\":[%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g]}}", c.my_x3y0, c.my_x0y3, c.my_x2y1, c.my_x1y2, c.my_x2y0, c.my_x0y2, c.my_x1y1, c.my_x1y0, c.my_x0y1, c.my_x0y0);
}

static void run(const Params &p, const char *frame_name, uint16_t (*gen)(int, int), std::vector<uint32_t> &rgb, bool first) {
  Registration reg(p.d, p.c);
  std::vector<float> depth(W * H), undist(W * H);
  std::vector<uint32_t> registered(W * H), registered_nf(W * H);
  std::vector<int> c_off(W * H);
  std::vector<float> bigdepth(CW * (CH + 2));
  for (int y = 0; y < H; ++y) for (int x = 0; x < W; ++x) depth[y * W + x] = gen(x, y);
  Frame rgbf(CW, CH, 4, (unsigned char *)rgb.data()), df(W, H, 4, (unsigned char *)depth.data()),
        uf(W, H, 4, (unsigned char *)undist.data()), rf(W, H, 4, (unsigned char *)registered.data()),
        rnf(W, H, 4, (unsigned char *)registered_nf.data()), bf(CW, CH + 2, 4, (unsigned char *)bigdepth.data());
  reg.apply(&rgbf, &df, &uf, &rnf, false);
  reg.apply(&rgbf, &df, &uf, &rf, true, &bf, c_off.data());
  Fnv h_undist, h_coff, h_reg, h_reg_nf, h_xyz, h_big;
  long n_points = 0, n_mapped = 0, n_registered = 0;
  for (int i = 0; i < W * H; ++i) {
    h_undist.f32(undist[i]); h_coff.u32((uint32_t)c_off[i]); h_reg.u32(registered[i]); h_reg_nf.u32(registered_nf[i]);
    if (c_off[i] >= 0) ++n_mapped;
    if (registered[i] != 0) ++n_registered;
  }
  for (int i = 0; i < CW * (CH + 2); ++i) h_big.f32(bigdepth[i]);
  for (int r = 0; r < H; ++r) for (int c = 0; c < W; ++c) {
    float x, y, z; reg.getPointXYZ(&uf, r, c, x, y, z);
    if (!std::isnan(z)) { ++n_points; h_xyz.u32(r * W + c); h_xyz.f32(x); h_xyz.f32(y); h_xyz.f32(z); }
  }
  printf("%s{\"params\":\"%s\",\"frame\":\"%s\",\"points\":%ld,\"mapped\":%ld,\"registered\":%ld,", first ? "" : ",\n", p.name, frame_name, n_points, n_mapped, n_registered);
  printf("\"fnv1a64\":{\"undistorted_f32\":\"%016llx\",\"color_index_i32\":\"%016llx\",\"registered_u32\":\"%016llx\",\"registered_unfiltered_u32\":\"%016llx\",\"points_index_xyz\":\"%016llx\",\"bigdepth_f32\":\"%016llx\"},\n",
         (unsigned long long)h_undist.h, (unsigned long long)h_coff.h, (unsigned long long)h_reg.h, (unsigned long long)h_reg_nf.h, (unsigned long long)h_xyz.h, (unsigned long long)h_big.h);
  printf(" \"samples\":[");
  bool f = true;
  for (int r = 5; r < H; r += 43) for (int c = 3; c < W; c += 53) {
    int i = r * W + c; float x, y, z; reg.getPointXYZ(&uf, r, c, x, y, z);
    if (std::isnan(z)) printf("%s\n  [%d,%d,%.9g,null,null,null,%d,%u,%u]", f ? "" : ",", r, c, undist[i], c_off[i], registered[i], registered_nf[i]);
    else printf("%s\n  [%d,%d,%.9g,%.9g,%.9g,%.9g,%d,%u,%u]", f ? "" : ",", r, c, undist[i], x, y, z, c_off[i], registered[i], registered_nf[i]);
    f = false;
  }
  printf("]}");
}

int main() {
  Params a = {"typical", {}, {}};
  a.d.fx = 365.150208f; a.d.fy = 365.150208f; a.d.cx = 253.9832f; a.d.cy = 211.093994f;
  a.d.k1 = 0.0922871977f; a.d.k2 = -0.266797304f; a.d.k3 = 0.0901915208f; a.d.p1 = 0; a.d.p2 = 0;
  a.c.fx = 1081.37207f; a.c.fy = 1081.37207f; a.c.cx = 959.5f; a.c.cy = 539.5f; a.c.shift_d = 863; a.c.shift_m = 52;
  a.c.mx_x3y0 = 0.000523260387f; a.c.mx_x0y3 = 2.66473307e-05f; a.c.mx_x2y1 = 7.26420622e-05f; a.c.mx_x1y2 = 0.000386019994f;
  a.c.mx_x2y0 = -8.80247826e-05f; a.c.mx_x0y2 = -8.62425368e-05f; a.c.mx_x1y1 = 0.000260630302f; a.c.mx_x1y0 = 0.640707493f;
  a.c.mx_x0y1 = 0.00462980801f; a.c.mx_x0y0 = 0.152766302f;
  a.c.my_x3y0 = 1.641368e-05f; a.c.my_x0y3 = 0.000705449376f; a.c.my_x2y1 = 0.000468305807f; a.c.my_x1y2 = 3.74624688e-05f;
  a.c.my_x2y0 = -9.42075494e-05f; a.c.my_x0y2 = 0.000211564999f; a.c.my_x1y1 = 6.66987689e-05f; a.c.my_x1y0 = -0.00469533494f;
  a.c.my_x0y1 = 0.640462875f; a.c.my_x0y0 = 0.035591729f;
  // The same device with tangential distortion and an off-centre colour camera, to reach every term.
  Params b = a; b.name = "tangential"; b.d.p1 = 0.0021f; b.d.p2 = -0.0013f; b.c.cx = 951.25f; b.c.cy = 545.75f; b.c.fy = 1079.5f;

  std::vector<uint32_t> rgb(CW * CH);
  for (int i = 0; i < CW * CH; ++i) rgb[i] = (uint32_t)(i + 1);  // BGRX: each colour pixel names itself

  printf("{\"params\":[");
  print_params(a); printf(",\n"); print_params(b);
  printf("],\n\"apply\":[");
  int pts[][3] = {{0, 0, 500}, {256, 212, 1000}, {511, 423, 4500}, {100, 300, 2345}, {400, 50, 800}};
  const Params *ps[] = {&a, &b};
  bool first = true;
  for (int k = 0; k < 2; ++k) { Registration reg(ps[k]->d, ps[k]->c);
    for (auto &p : pts) { float cx, cy; reg.apply(p[0], p[1], (float)p[2], cx, cy);
      printf("%s\n [\"%s\",%d,%d,%d,%.9g,%.9g]", first ? "" : ",", ps[k]->name, p[0], p[1], p[2], cx, cy); first = false; } }
  printf("],\n\"frames\":[\n");
  run(a, "wall_sphere", depth_wall_sphere, rgb, true);
  run(a, "ramp", depth_ramp, rgb, false);
  run(a, "noise", depth_noise, rgb, false);
  run(b, "wall_sphere", depth_wall_sphere, rgb, false);
  printf("]}\n");
}
