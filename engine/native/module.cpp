// module.cpp: nanobind bindings for engine._native (the fused label-map kernel).
//
// Arguments arrive as untyped ndarrays and are checked here, so that a wrong dtype, shape
// or layout raises ValueError with a message naming the argument, instead of nanobind's
// generic "incompatible function arguments" TypeError. The GIL is released while drawing.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "label_map.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

using InArray = nb::ndarray<nb::ro>;
using OutArray = nb::ndarray<>;
using dtype_code = nb::dlpack::dtype_code;

constexpr int64_t kMaxPoints = 1 << 20;
constexpr int64_t kMaxSide = 1 << 15;

std::string dtype_name(nb::dlpack::dtype dt) {
    const char* kind = "unknown";
    switch (static_cast<dtype_code>(dt.code)) {
        case dtype_code::Int: kind = "int"; break;
        case dtype_code::UInt: kind = "uint"; break;
        case dtype_code::Float: kind = "float"; break;
        case dtype_code::Bool: return "bool";
        case dtype_code::Complex: kind = "complex"; break;
        default: break;
    }
    return kind + std::to_string(dt.bits);
}

template <typename Array>
std::string shape_text(const Array& a) {
    std::string text = "(";
    for (size_t i = 0; i < a.ndim(); ++i) {
        text += (i ? ", " : "") + std::to_string(a.shape(i));
    }
    return text + (a.ndim() == 1 ? ",)" : ")");
}

template <typename Array>
[[noreturn]] void fail(const char* name, const Array& a, const std::string& expected) {
    throw nb::value_error((std::string(name) + " must be " + expected + ", got a " +
                           dtype_name(a.dtype()) + " array of shape " + shape_text(a))
                              .c_str());
}

bool is_dtype(nb::dlpack::dtype dt, dtype_code code, int bits) {
    return dt.code == static_cast<uint8_t>(code) && dt.bits == bits && dt.lanes == 1;
}

// CPU memory, C order (strides of length-1 axes do not matter).
template <typename Array>
void check_layout(const char* name, const Array& a) {
    if (a.device_type() != nb::device::cpu::value) {
        throw nb::value_error((std::string(name) + " must be in CPU memory").c_str());
    }
    int64_t expected = 1;
    for (size_t i = a.ndim(); i-- > 0;) {
        if (a.shape(i) != 1 && a.stride(i) != expected) {
            throw nb::value_error(
                (std::string(name) + " must be C-contiguous (use np.ascontiguousarray)").c_str());
        }
        expected *= static_cast<int64_t>(a.shape(i));
    }
}

// A 2-D array of the given dtype, `cols` columns (or at least `min_cols` when cols < 0).
void check_table(const char* name, const InArray& a, dtype_code code, const char* dtype,
                 int64_t rows, int64_t cols, int64_t min_cols = 0) {
    const int64_t n_rows = a.ndim() == 2 ? static_cast<int64_t>(a.shape(0)) : -1;
    const int64_t n_cols = a.ndim() == 2 ? static_cast<int64_t>(a.shape(1)) : -1;
    const bool ok_shape = a.ndim() == 2 && (rows < 0 || n_rows == rows) &&
                          (cols < 0 ? n_cols >= min_cols : n_cols == cols);
    if (!is_dtype(a.dtype(), code, 32) || !ok_shape) {
        const std::string row_text = rows < 0 ? "N" : std::to_string(rows);
        const std::string col_text =
            cols < 0 ? ">=" + std::to_string(min_cols) : std::to_string(cols);
        fail(name, a, std::string(dtype) + " [" + row_text + ", " + col_text + "]");
    }
    check_layout(name, a);
}

void check_indices(const char* name, const InArray& a, int64_t limit) {
    const auto* idx = static_cast<const int32_t*>(a.data());
    for (size_t i = 0; i < a.size(); ++i) {
        if (idx[i] < 0 || idx[i] >= limit) {
            throw nb::value_error((std::string(name) + " holds index " + std::to_string(idx[i]) +
                                   ", outside 0.." + std::to_string(limit - 1))
                                      .c_str());
        }
    }
}

dancenow::Keypoints keypoints_of(const InArray& kp) {
    check_table("keypoints", kp, dtype_code::Float, "float32", -1, -1, 2);
    if (kp.shape(0) < 1 || static_cast<int64_t>(kp.shape(0)) > kMaxPoints) {
        fail("keypoints", kp, "float32 [N, >=2] with 1 <= N <= 2^20");
    }
    return {static_cast<const float*>(kp.data()), static_cast<int>(kp.shape(0)),
            static_cast<int>(kp.shape(1))};
}

// [1, 3, H, W] or [3, H, W], float16 (or its uint16 view), C order, writable.
dancenow::HalfImage image_of(const nb::object& obj) {
    OutArray out;
    if (!nb::try_cast(obj, out, false)) {
        InArray readonly;
        if (nb::try_cast(obj, readonly, false)) throw nb::value_error("out must be writable");
        throw nb::value_error("out must be a float16 (or uint16) array");
    }
    const size_t nd = out.ndim();
    const bool ok_dtype = is_dtype(out.dtype(), dtype_code::Float, 16) ||
                          is_dtype(out.dtype(), dtype_code::UInt, 16);
    const bool ok_shape = (nd == 4 && out.shape(0) == 1 && out.shape(1) == 3) ||
                          (nd == 3 && out.shape(0) == 3);
    if (!ok_dtype || !ok_shape) fail("out", out, "float16 (or uint16) [1, 3, H, W] or [3, H, W]");
    const int64_t h = static_cast<int64_t>(out.shape(nd - 2));
    const int64_t w = static_cast<int64_t>(out.shape(nd - 1));
    if (h < 1 || w < 1 || h > kMaxSide || w > kMaxSide) {
        fail("out", out, "at least 1x1 and at most 32768x32768");
    }
    check_layout("out", out);
    return {static_cast<uint16_t*>(out.data()), static_cast<int>(h), static_cast<int>(w)};
}

dancenow::BoneTable bones_of(const InArray& bones, const InArray& colors, const InArray& radii,
                             int64_t n_points) {
    check_table("bones", bones, dtype_code::Int, "int32", -1, 2);
    const int64_t n = static_cast<int64_t>(bones.shape(0));
    check_indices("bones", bones, n_points);
    check_table("colors", colors, dtype_code::Float, "float32", n, 3);
    const bool flat = radii.ndim() == 1 && static_cast<int64_t>(radii.shape(0)) == n;
    const bool table = radii.ndim() == 2 && static_cast<int64_t>(radii.shape(0)) == n &&
                       (radii.shape(1) == 1 || radii.shape(1) == 3);
    if (!is_dtype(radii.dtype(), dtype_code::Float, 32) || !(flat || table)) {
        fail("radii", radii, "float32 [B] or [B, 3] (half_width, cap_radius, end_pad), B = " +
                                 std::to_string(n));
    }
    check_layout("radii", radii);
    const auto* r = static_cast<const float*>(radii.data());
    for (size_t i = 0; i < radii.size(); ++i) {
        if (!std::isfinite(r[i]) || r[i] < 0.0f) {
            throw nb::value_error("radii must be finite and >= 0");
        }
    }
    return {static_cast<const int32_t*>(bones.data()), static_cast<const float*>(colors.data()),
            r, table ? static_cast<int>(radii.shape(1)) : 1, static_cast<int>(n)};
}

dancenow::Midpoints midpoints_of(const InArray& mids, int64_t n_keypoints) {
    check_table("midpoints", mids, dtype_code::Int, "int32", -1, 2);
    check_indices("midpoints", mids, n_keypoints);
    return {static_cast<const int32_t*>(mids.data()), static_cast<int>(mids.shape(0))};
}

void render_label_map(const InArray& keypoints, const nb::object& out, const InArray& bones,
                      const InArray& colors, const InArray& radii, const InArray& midpoints,
                      float sx, float sy, float ox, float oy, float min_visibility) {
    const dancenow::Keypoints kp = keypoints_of(keypoints);
    const dancenow::Midpoints mids = midpoints_of(midpoints, kp.count);
    const dancenow::BoneTable table = bones_of(bones, colors, radii, kp.count + mids.count);
    const dancenow::HalfImage image = image_of(out);
    const dancenow::Affine affine{sx, sy, ox, oy};
    nb::gil_scoped_release release;
    dancenow::render_label_map(kp, affine, min_visibility, table, mids, image);
}

// Test hooks for the float <-> binary16 conversions the kernel uses.
void float_to_half_bits(const InArray& src, OutArray dst) {
    if (!is_dtype(src.dtype(), dtype_code::Float, 32) || src.ndim() != 1) {
        fail("src", src, "float32 [N]");
    }
    if (!is_dtype(dst.dtype(), dtype_code::UInt, 16) || dst.ndim() != 1 ||
        dst.shape(0) != src.shape(0)) {
        fail("dst", dst, "uint16 [N] like src");
    }
    check_layout("src", src);
    check_layout("dst", dst);
    const auto* s = static_cast<const float*>(src.data());
    auto* d = static_cast<uint16_t*>(dst.data());
    for (size_t i = 0; i < src.size(); ++i) d[i] = dancenow::float_to_half(s[i]);
}

void half_bits_to_float(const InArray& src, OutArray dst) {
    if (!is_dtype(src.dtype(), dtype_code::UInt, 16) || src.ndim() != 1) {
        fail("src", src, "uint16 [N]");
    }
    if (!is_dtype(dst.dtype(), dtype_code::Float, 32) || dst.ndim() != 1 ||
        dst.shape(0) != src.shape(0)) {
        fail("dst", dst, "float32 [N] like src");
    }
    check_layout("src", src);
    check_layout("dst", dst);
    const auto* s = static_cast<const uint16_t*>(src.data());
    auto* d = static_cast<float*>(dst.data());
    for (size_t i = 0; i < src.size(); ++i) d[i] = dancenow::half_to_float(s[i]);
}

const char* const kRenderDoc = R"doc(Draw the label map into a float16 [1, 3, H, W] buffer.

Fills `out` (also accepted as [3, H, W]) with -1 (black), then for each bone in order
whose two points are valid draws an anti-aliased thick line (a box along the segment plus
round caps) and composites its colour "over" the planes. Points are `keypoints` (float32
[N, >=2]: x px, y px[, visibility]) mapped by x * sx + ox, y * sy + oy and snapped to
1/16 px, followed by the midpoints of the pairs in `midpoints` (int32 [M, 2]). A point is
missing when not finite or its visibility is below `min_visibility`; a bone with a
missing point draws nothing.

bones: int32 [B, 2] point indices. colors: float32 [B, 3] in output units ([-1, 1]).
radii: float32 [B] (capsule radius) or [B, 3] (half_width, cap_radius, end_pad), pixels.
out: float16, or the same memory viewed as uint16, C-contiguous and writable.
Raises ValueError for a wrong dtype, shape, layout or out-of-range index.)doc";

}  // namespace

NB_MODULE(_native, m) {
    m.doc() =
        "Native kernels for the dancenow engine: the fused label-map rasterizer that draws "
        "the stick figure straight into the generator's float16 NCHW input tensor. AA_WIDTH "
        "is the width, in pixels, of its anti-aliasing ramp across a shape's edge.";
    m.def("render_label_map", &render_label_map, "keypoints"_a, "out"_a, "bones"_a, "colors"_a,
          "radii"_a, "midpoints"_a, "sx"_a, "sy"_a, "ox"_a, "oy"_a, "min_visibility"_a,
          kRenderDoc);
    m.def("_float_to_half_bits", &float_to_half_bits, "src"_a, "dst"_a,
          "Test hook: float32 [N] -> binary16 bits uint16 [N], the kernel's conversion.");
    m.def("_half_bits_to_float", &half_bits_to_float, "src"_a, "dst"_a,
          "Test hook: binary16 bits uint16 [N] -> float32 [N], the kernel's conversion.");
    m.attr("AA_WIDTH") = dancenow::kAAWidth;
}
