// label_map.h: the fused label-map rasterizer behind engine._native.
//
// Keypoints go in, a float16 planar [3, H, W] stick figure comes out: the buffer is
// filled with -1 (black), then every bone whose endpoints are valid is rasterized as an
// anti-aliased thick line and composited "over" what is already there, channel plane by
// channel plane. Nothing else is allocated: no HWC image, no transpose, no scaling pass.
//
// The bone shape follows OpenCV's thick LINE_AA lines (what the Python reference draws):
// a box along the segment (`half_width` either side, reaching `end_pad` past each end)
// united with a disc of `cap_radius` on each end. Coverage ramps smoothly from 1 to 0
// over kAAWidth pixels centred on the shape's boundary (a smoothstep, which measured
// closer to OpenCV's edge profile than a linear ramp). With one radius per bone the box
// and the discs share that radius and the shape is a plain capsule.
#pragma once

#include <cstdint>
#include <cstring>

namespace dancenow {

// Width, in pixels, of the anti-aliasing ramp across a shape's boundary.
constexpr float kAAWidth = 1.5f;

// Landmarks: `count` rows of `stride` floats (x px, y px[, visibility, ...]).
struct Keypoints {
    const float* data;
    int count;
    int stride;  // >= 2; visibility is column 2 when stride >= 3, else every point is visible
};

// Pixel = landmark * scale + offset, per axis.
struct Affine {
    float sx, sy, ox, oy;
};

// Bones in drawing order. `radii` holds `radii_stride` floats per bone: 1 (capsule
// radius) or 3 (half_width, cap_radius, end_pad). `colors` are 3 floats per bone in the
// output's units ([-1, 1]).
struct BoneTable {
    const int32_t* bones;  // [count, 2] point indices
    const float* colors;   // [count, 3]
    const float* radii;    // [count, radii_stride]
    int radii_stride;
    int count;
};

// Virtual points appended after the landmarks: point `keypoints.count + i` is the
// midpoint of pairs[i] (missing when either end is missing).
struct Midpoints {
    const int32_t* pairs;  // [count, 2] landmark indices
    int count;
};

// Planar float16 image, three [height, width] planes back to back (IEEE binary16 bits);
// height * width must stay below 2^31.
struct HalfImage {
    uint16_t* data;
    int height;
    int width;
};

// Draws the label map into `out`, overwriting every pixel. Indices must be in range (the
// bindings check). Thread-safe: no state beyond the arguments. Throws only std::bad_alloc
// (more than a thousand points need a heap scratch).
void render_label_map(const Keypoints& keypoints, const Affine& affine, float min_visibility,
                      const BoneTable& bones, const Midpoints& midpoints, const HalfImage& out);

// The conversions below are branch-free (selects by bit masks) so that loops over many
// pixels vectorize with plain SSE2; no F16C instructions are needed.

inline uint32_t float_bits(float f) noexcept {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}

inline float bits_float(uint32_t u) noexcept {
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}

// All ones when `condition`, else zero.
inline uint32_t bit_mask(bool condition) noexcept { return 0u - static_cast<uint32_t>(condition); }

// `a` where `mask` is set, `b` elsewhere.
inline uint32_t select_bits(uint32_t mask, uint32_t a, uint32_t b) noexcept {
    return (a & mask) | (b & ~mask);
}

// float -> binary16 bits, round to nearest even; overflow gives inf, NaN gives quiet NaN.
// Subnormal halves come from adding 0.5f, whose float rounding (the default
// round-to-nearest-even mode) drops exactly the bits a half cannot hold.
inline uint16_t float_to_half(float f) noexcept {
    const uint32_t all = float_bits(f);
    const uint32_t sign = (all >> 16) & 0x8000u;
    const uint32_t x = all & 0x7fffffffu;
    // Normal half: rebias the exponent ((15 - 127) << 23), round on the 13 dropped bits; a
    // carry out of the mantissa correctly reaches the next exponent (or inf).
    const uint32_t normal = (x + 0xc8000fffu + ((x >> 13) & 1u)) >> 13;
    const uint32_t subnormal = float_bits(bits_float(x) + 0.5f) - 0x3f000000u;
    const uint32_t special = 0x7c00u | (bit_mask(x > 0x7f800000u) & 0x0200u);  // inf / NaN
    uint32_t h = select_bits(bit_mask(x < 0x38800000u), subnormal, normal);  // below 2^-14
    h = select_bits(bit_mask(x >= 0x47800000u), special, h);  // 65536 and up: inf or NaN
    return static_cast<uint16_t>(h | sign);
}

// binary16 bits -> float (exact).
inline float half_to_float(uint16_t h) noexcept {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    const uint32_t body = static_cast<uint32_t>(h & 0x7fffu) << 13;  // exponent and mantissa
    const uint32_t exponent = body & 0x0f800000u;
    // Rebias by (127 - 15) << 23; inf / NaN (exponent 31) need another 128 - 16.
    const uint32_t normal = body + 0x38000000u + (bit_mask(exponent == 0x0f800000u) & 0x38000000u);
    // Zero / subnormal: read the mantissa as 2^-14 * (1 + m / 1024), subtract 2^-14.
    const uint32_t subnormal = float_bits(bits_float(body + 0x38800000u) - bits_float(0x38800000u));
    return bits_float(select_bits(bit_mask(exponent == 0), subnormal, normal) | sign);
}

}  // namespace dancenow
