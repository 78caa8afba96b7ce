// label_map.cpp: the fused label-map rasterizer (see label_map.h for the shape model).
//
// Per bone, only the rows of its bounding box are visited, and per row only the span the
// shape can touch. That span splits into an inner run where coverage is exactly 1 (the
// colour is stored as precomputed float16 bits, no blending) and at most a few
// anti-aliased pixels at each end, which are the only ones that compute a distance,
// read back the float16 underneath and blend.
#include "label_map.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace dancenow {
namespace {

constexpr float kHalfAA = 0.5f * kAAWidth;
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr uint16_t kHalfMinusOne = 0xbc00u;  // -1.0 in binary16
constexpr int kMaxPoints = 1024;             // points on the stack; more go to the heap

struct Point {
    float x, y;
    bool valid;
};

// Interval of x; empty when lo > hi.
struct Span {
    float lo, hi;
    bool empty() const { return !(lo <= hi); }
};

constexpr Span kEmpty{kInf, -kInf};
constexpr Span kAll{-kInf, kInf};

Span intersect(Span a, Span b) { return {std::max(a.lo, b.lo), std::min(a.hi, b.hi)}; }

Span hull(Span a, Span b) {
    if (a.empty()) return b;
    if (b.empty()) return a;
    return {std::min(a.lo, b.lo), std::max(a.hi, b.hi)};
}

// One bone, ready to rasterize: geometry in pixels plus its colour.
struct Bone {
    float x0, y0, x1, y1;
    float ux, uy, len;  // unit direction and length; len == 0 means discs only
    float inv_ux, inv_neg_uy;  // 1 / ux and -1 / uy, 0 where the axis is (near) parallel
    float half_width, cap_radius, end_pad;
    float color[3];
    uint16_t color_bits[3];
};

// OpenCV's shift=4 drawing snaps coordinates to 1/16 pixel (np.round: ties to even).
float snap16(float v) { return std::nearbyint(v * 16.0f) / 16.0f; }

// Landmarks through the affine, then the midpoints, then snapped; invalid when missing.
void transform_points(const Keypoints& kp, const Affine& affine, float min_visibility,
                      const Midpoints& mids, Point* pts) {
    for (int i = 0; i < kp.count; ++i) {
        const float* row = kp.data + static_cast<size_t>(i) * kp.stride;
        const float x = row[0] * affine.sx + affine.ox;
        const float y = row[1] * affine.sy + affine.oy;
        const bool visible = kp.stride < 3 || row[2] >= min_visibility;  // NaN: not visible
        pts[i] = {x, y, visible && std::isfinite(x) && std::isfinite(y)};
    }
    for (int i = 0; i < mids.count; ++i) {
        const Point& a = pts[mids.pairs[2 * i]];
        const Point& b = pts[mids.pairs[2 * i + 1]];
        pts[kp.count + i] = {(a.x + b.x) / 2.0f, (a.y + b.y) / 2.0f, a.valid && b.valid};
    }
    for (int i = 0; i < kp.count + mids.count; ++i) {
        pts[i].x = snap16(pts[i].x);
        pts[i].y = snap16(pts[i].y);
        pts[i].valid = pts[i].valid && std::isfinite(pts[i].x) && std::isfinite(pts[i].y);
    }
}

// Liang-Barsky: clips the segment (x0, y0)-(x1, y1) to [lo, hi_x] x [lo, hi_y]; false
// when it misses. The clipped points step from (x0, y0).
bool clip_from_start(double& x0, double& y0, double& x1, double& y1, double lo, double hi_x,
                     double hi_y) {
    const double dx = x1 - x0, dy = y1 - y0;
    const double p[4] = {-dx, dx, -dy, dy};
    const double q[4] = {x0 - lo, hi_x - x0, y0 - lo, hi_y - y0};
    double t0 = 0.0, t1 = 1.0;
    for (int k = 0; k < 4; ++k) {
        if (p[k] == 0.0) {
            if (q[k] < 0.0) return false;
        } else if (p[k] < 0.0) {
            t0 = std::max(t0, q[k] / p[k]);
        } else {
            t1 = std::min(t1, q[k] / p[k]);
        }
    }
    if (t0 > t1) return false;
    const double ox = x0, oy = y0;
    x0 = ox + t0 * dx;
    y0 = oy + t0 * dy;
    x1 = ox + t1 * dx;
    y1 = oy + t1 * dy;
    return true;
}

// As clip_from_start, but stepping from the end nearer the rectangle, so that a far end
// (1e20 px, say) does not swamp the clipped points: in double this stays well under a
// pixel while one end is within about 1e12 px.
bool clip_segment(double& x0, double& y0, double& x1, double& y1, double lo, double hi_x,
                  double hi_y) {
    const double cx = (lo + hi_x) / 2.0, cy = (lo + hi_y) / 2.0;
    const double far0 = std::max(std::fabs(x0 - cx), std::fabs(y0 - cy));
    const double far1 = std::max(std::fabs(x1 - cx), std::fabs(y1 - cy));
    if (far0 <= far1) return clip_from_start(x0, y0, x1, y1, lo, hi_x, hi_y);
    return clip_from_start(x1, y1, x0, y0, lo, hi_x, hi_y);
}

void set_shape(Bone& bone, const BoneTable& table, int i) {
    const float* r = table.radii + static_cast<size_t>(i) * table.radii_stride;
    bone.half_width = r[0];
    bone.cap_radius = table.radii_stride >= 3 ? r[1] : r[0];
    bone.end_pad = table.radii_stride >= 3 ? r[2] : 0.0f;
    for (int c = 0; c < 3; ++c) {
        bone.color[c] = table.colors[3 * i + c];
        bone.color_bits[c] = float_to_half(bone.color[c]);
    }
}

// The bone from a to b, its segment clipped to the image grown by more than the shape's
// reach: an end moved by the clip then lies too far out for its cap to show, so the
// visible picture is unchanged. False when nothing of the bone can show.
bool make_bone(const Point& a, const Point& b, const BoneTable& table, int i,
               const HalfImage& out, Bone& bone) {
    set_shape(bone, table, i);
    const double margin = std::max(bone.half_width + bone.end_pad, bone.cap_radius) + 2.0;
    double x0 = a.x, y0 = a.y, x1 = b.x, y1 = b.y;
    if (!clip_segment(x0, y0, x1, y1, -margin, out.width - 1 + margin, out.height - 1 + margin)) {
        return false;
    }
    bone.x0 = static_cast<float>(x0);
    bone.y0 = static_cast<float>(y0);
    bone.x1 = static_cast<float>(x1);
    bone.y1 = static_cast<float>(y1);
    const double dx = b.x - static_cast<double>(a.x), dy = b.y - static_cast<double>(a.y);
    const double full = std::hypot(dx, dy);
    bone.len = static_cast<float>(std::hypot(x1 - x0, y1 - y0));
    if (!(bone.len > 1e-6f)) bone.len = 0.0f;
    bone.ux = bone.len > 0.0f ? static_cast<float>(dx / full) : 1.0f;
    bone.uy = bone.len > 0.0f ? static_cast<float>(dy / full) : 0.0f;
    bone.inv_ux = std::fabs(bone.ux) > 1e-9f ? 1.0f / bone.ux : 0.0f;
    bone.inv_neg_uy = std::fabs(bone.uy) > 1e-9f ? -1.0f / bone.uy : 0.0f;
    return true;
}

// Solutions x of lo <= a * (x - x0) + c <= hi, given inv_a = 1 / a (0 when a is 0).
Span slab(float inv_a, float c, float x0, float lo, float hi) {
    if (inv_a == 0.0f) return (c >= lo && c <= hi) ? kAll : kEmpty;
    const float xa = x0 + (lo - c) * inv_a, xb = x0 + (hi - c) * inv_a;
    return inv_a > 0.0f ? Span{xa, xb} : Span{xb, xa};
}

// Row y across the bone's box grown by `grow` on every side.
Span box_span(const Bone& s, float y, float grow) {
    if (s.len <= 0.0f || s.half_width + grow <= 0.0f) return kEmpty;
    const float ry = y - s.y0;
    // u = ux (x - x0) + uy ry along the bone; v = -uy (x - x0) + ux ry across it.
    const float reach = s.end_pad + grow;
    const Span along = slab(s.inv_ux, ry * s.uy, s.x0, -reach, s.len + reach);
    const float w = s.half_width + grow;
    const Span across = slab(s.inv_neg_uy, ry * s.ux, s.x0, -w, w);
    return intersect(along, across);
}

// Row y across a disc of radius r centred on (cx, cy).
Span disc_span(float cx, float cy, float r, float y) {
    const float dy = y - cy;
    const float h2 = r * r - dy * dy;
    if (r <= 0.0f || h2 < 0.0f) return kEmpty;
    const float h = std::sqrt(h2);
    return {cx - h, cx + h};
}

// Pixels the bone may touch on row y: the hull of its box and discs, grown by half the ramp.
Span outer_span(const Bone& s, float y) {
    const float r = s.cap_radius + kHalfAA;
    return hull(box_span(s, y, kHalfAA),
                hull(disc_span(s.x0, s.y0, r, y), disc_span(s.x1, s.y1, r, y)));
}

// Pixels fully covered on row y: the inner box plus any inner disc run that joins it
// (or the longer disc run when the box misses the row). Pixels left out are blended.
Span inner_span(const Bone& s, float y) {
    const float r = s.cap_radius - kHalfAA;
    Span run = box_span(s, y, -kHalfAA);
    Span d0 = disc_span(s.x0, s.y0, r, y), d1 = disc_span(s.x1, s.y1, r, y);
    if (run.empty()) {
        if (d0.empty() || (!d1.empty() && d1.hi - d1.lo > d0.hi - d0.lo)) std::swap(d0, d1);
        run = d0;
        d0 = kEmpty;
    }
    for (const Span& d : {d0, d1}) {
        if (!d.empty() && !run.empty() && d.lo <= run.hi && d.hi >= run.lo) run = hull(run, d);
    }
    return run;
}

// max(t, 0) as arithmetic: a select here would keep GCC from vectorizing the loops below.
float relu(float t) { return 0.5f * (t + std::fabs(t)); }

// Smooth ramp: 0 at s <= -kHalfAA, 1 at s >= kHalfAA (s: signed distance inside).
float ramp(float s) {
    const float t = 1.0f - relu(1.0f - relu((s + kHalfAA) * (1.0f / kAAWidth)));
    return t * t * (3.0f - 2.0f * t);
}

// Edge pixels of one bone waiting to be blended, in batches so that the coverage and the
// float16 blend run as straight loops the compiler vectorizes (4 pixels per SSE2 op).
struct EdgeBatch {
    static constexpr int kSize = 256;
    int count = 0;
    int32_t offset[kSize];  // pixel index within a plane
    float x[kSize], y[kSize], cover[kSize];
    uint16_t value[kSize];
};

// Coverage of each batched pixel centre: the most of the box's and the discs' coverages.
void batch_coverage(const Bone& s, EdgeBatch& batch) {
    const float box_gate = s.len > 0.0f ? 1.0f : 0.0f;  // a zero-length bone is its discs
    for (int i = 0; i < batch.count; ++i) {
        const float px = batch.x[i] - s.x0, py = batch.y[i] - s.y0;
        const float qx = batch.x[i] - s.x1, qy = batch.y[i] - s.y1;
        const float u = px * s.ux + py * s.uy;
        const float v = std::fabs(py * s.ux - px * s.uy);
        const float along = (u < s.len - u ? u : s.len - u) + s.end_pad;
        const float box = box_gate * ramp(s.half_width - v) * ramp(along);
        const float d0 = px * px + py * py, d1 = qx * qx + qy * qy;
        const float disc = ramp(s.cap_radius - std::sqrt(d0 < d1 ? d0 : d1));
        batch.cover[i] = box > disc ? box : disc;
    }
}

// value = value + (color - value) * cover, on float16 bits ("over" with coverage).
void blend_halves(uint16_t* value, const float* cover, int n, float color) {
    for (int i = 0; i < n; ++i) {
        const float under = half_to_float(value[i]);
        value[i] = float_to_half(under + (color - under) * cover[i]);
    }
}

// Blends the batched pixels into the three planes and empties the batch.
void flush(const Bone& s, const HalfImage& out, EdgeBatch& batch) {
    batch_coverage(s, batch);
    const size_t plane = static_cast<size_t>(out.height) * out.width;
    for (int c = 0; c < 3; ++c) {
        uint16_t* data = out.data + c * plane;
        for (int i = 0; i < batch.count; ++i) batch.value[i] = data[batch.offset[i]];
        blend_halves(batch.value, batch.cover, batch.count, s.color[c]);
        for (int i = 0; i < batch.count; ++i) data[batch.offset[i]] = batch.value[i];
    }
    batch.count = 0;
}

// Queues pixels [x0, x1] of row y for blending.
void queue_run(const Bone& s, const HalfImage& out, EdgeBatch& batch, int y, int x0, int x1) {
    const int32_t row = y * out.width;
    for (int x = x0; x <= x1; ++x) {
        if (batch.count == EdgeBatch::kSize) flush(s, out, batch);
        batch.offset[batch.count] = row + x;
        batch.x[batch.count] = static_cast<float>(x);
        batch.y[batch.count] = static_cast<float>(y);
        ++batch.count;
    }
}

// First and last pixel column of a span, clamped to [0, width - 1]; lo > hi when empty.
void pixel_range(Span span, int width, int& lo, int& hi) {
    if (span.empty() || span.hi < 0.0f || span.lo > static_cast<float>(width - 1)) {
        lo = 0;
        hi = -1;
        return;
    }
    lo = static_cast<int>(std::ceil(std::max(span.lo, 0.0f)));
    hi = static_cast<int>(std::floor(std::min(span.hi, static_cast<float>(width - 1))));
}

// Row y: the fully covered run gets the colour's bits, the pixels either side are queued.
void rasterize_row(const Bone& s, const HalfImage& out, EdgeBatch& batch, int y) {
    const float fy = static_cast<float>(y);
    int xl, xr, il, ir;
    pixel_range(outer_span(s, fy), out.width, xl, xr);
    if (xl > xr) return;
    pixel_range(inner_span(s, fy), out.width, il, ir);
    il = std::max(il, xl);
    ir = std::min(ir, xr);
    if (il > ir) {  // nothing fully covered
        queue_run(s, out, batch, y, xl, xr);
        return;
    }
    queue_run(s, out, batch, y, xl, il - 1);
    queue_run(s, out, batch, y, ir + 1, xr);
    const size_t plane = static_cast<size_t>(out.height) * out.width;
    uint16_t* row = out.data + static_cast<size_t>(y) * out.width;
    for (int c = 0; c < 3; ++c) {
        std::fill(row + c * plane + il, row + c * plane + ir + 1, s.color_bits[c]);
    }
}

void rasterize_bone(const Bone& s, const HalfImage& out, EdgeBatch& batch) {
    const float reach = std::max(s.half_width + s.end_pad, s.cap_radius) + kHalfAA;
    const float top = std::min(s.y0, s.y1) - reach, bottom = std::max(s.y0, s.y1) + reach;
    if (!(bottom >= 0.0f && top <= static_cast<float>(out.height - 1))) return;
    const int y0 = static_cast<int>(std::ceil(std::max(top, 0.0f)));
    const int y1 = static_cast<int>(std::floor(std::min(bottom, out.height - 1.0f)));
    for (int y = y0; y <= y1; ++y) rasterize_row(s, out, batch, y);
    flush(s, out, batch);
}

}  // namespace

void render_label_map(const Keypoints& keypoints, const Affine& affine, float min_visibility,
                      const BoneTable& bones, const Midpoints& midpoints,
                      const HalfImage& out) {
    std::fill_n(out.data, 3 * static_cast<size_t>(out.height) * out.width, kHalfMinusOne);
    const int n_points = keypoints.count + midpoints.count;
    Point stack_points[kMaxPoints];
    std::vector<Point> heap_points;
    Point* pts = stack_points;
    if (n_points > kMaxPoints) {
        heap_points.resize(n_points);
        pts = heap_points.data();
    }
    transform_points(keypoints, affine, min_visibility, midpoints, pts);
    EdgeBatch batch;
    for (int i = 0; i < bones.count; ++i) {
        const Point& a = pts[bones.bones[2 * i]];
        const Point& b = pts[bones.bones[2 * i + 1]];
        Bone bone{};
        if (a.valid && b.valid && make_bone(a, b, bones, i, out, bone)) {
            rasterize_bone(bone, out, batch);
        }
    }
}

}  // namespace dancenow
