// Ed25519 signature verification, written from RFC 8032: the field and curve of section 5.1,
// point decoding (5.1.3), the point formulas of 5.1.4 and the verification of 5.1.7.
//
// Only verification is here, so nothing secret is handled and nothing needs to run in constant
// time; the code favours being easy to check over speed. Everything lives on the stack.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "crypto.h"

namespace callhook::crypto {
namespace {

using Bytes32 = std::array<std::uint8_t, 32>;

// ---------------------------------------------------------------------------------------------
// The field GF(p), p = 2^255 - 19
//
// An element is sixteen signed 64-bit limbs of 16 bits: value = sum of limb[i] * 2^(16 i). Sums
// and differences are taken limb by limb without carrying, so a limb may briefly be negative or
// exceed 16 bits; every product carries its result back to limbs in [0, 2^16) (limb 0 may be
// off by a few multiples of 38). With inputs below 2^19 in magnitude, a product's 16-term
// column sums stay below 2^42 and, folded, below 2^48: far from overflowing an int64_t.
using Fe = std::array<std::int64_t, 16>;

constexpr std::size_t kLimbs = 16;
constexpr std::int64_t kRadix = 65536;

// 2^256 = 2 * (2^255 - 19) + 38, so 2^256 = 38 (mod p): what carries out of the top limb comes
// back into the bottom one times 38.
constexpr std::int64_t kFold = 38;

constexpr Fe fe_from_bytes(const Bytes32& bytes) {
  Fe out{};
  for (std::size_t i = 0; i < kLimbs; ++i) {
    out[i] = std::int64_t{bytes[2 * i]} | (std::int64_t{bytes[2 * i + 1]} << 8);
  }
  return out;
}

// 32 little-endian bytes written as 64 hex digits (for the constants below).
constexpr Bytes32 bytes_from_hex(std::string_view hex) {
  Bytes32 out{};
  const auto digit = [](char c) -> std::uint8_t {
    return static_cast<std::uint8_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  };
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<std::uint8_t>((digit(hex[2 * i]) << 4) | digit(hex[2 * i + 1]));
  }
  return out;
}

constexpr Fe kZero{};
constexpr Fe kOne{1};
// d = -121665 / 121666 (section 5.1), 2d, sqrt(-1) = 2^((p-1)/4), and the base point B
// (y = 4/5, x positive), each as the little-endian bytes of its canonical value.
constexpr Fe kD = fe_from_bytes(
    bytes_from_hex("a3785913ca4deb75abd841414d0a700098e879777940c78c73fe6f2bee6c0352"));
constexpr Fe kD2 = fe_from_bytes(
    bytes_from_hex("59f1b226949bd6eb56b183829a14e00030d1f3eef2808e19e7fcdf56dcd90624"));
constexpr Fe kSqrtMinusOne = fe_from_bytes(
    bytes_from_hex("b0a00e4a271beec478e42fad0618432fa7d7fb3d99004d2b0bdfc14f8024832b"));
constexpr Fe kBaseX = fe_from_bytes(
    bytes_from_hex("1ad5258f602d56c9b2a7259560c72c695cdcd6fd31e2a4c0fe536ecdd3366921"));
constexpr Fe kBaseY = fe_from_bytes(
    bytes_from_hex("5866666666666666666666666666666666666666666666666666666666666666"));
// (p - 5) / 8 = 2^252 - 3, the exponent of the square root in section 5.1.3.
constexpr Bytes32 kSqrtExponent =
    bytes_from_hex("fdffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff0f");

// One pass of carrying: limbs 1..15 end in [0, 2^16) and the top carry is folded into limb 0.
// The shift floors (C++20 defines >> of a negative value as arithmetic), so negative limbs
// borrow from the next one.
void carry(Fe& x) {
  for (std::size_t i = 0; i < kLimbs; ++i) {
    const std::int64_t c = x[i] >> 16;
    x[i] -= c * kRadix;
    if (i + 1 < kLimbs) {
      x[i + 1] += c;
    } else {
      x[0] += c * kFold;
    }
  }
}

Fe add(const Fe& a, const Fe& b) {
  Fe out;
  for (std::size_t i = 0; i < kLimbs; ++i) out[i] = a[i] + b[i];
  return out;
}

Fe sub(const Fe& a, const Fe& b) {
  Fe out;
  for (std::size_t i = 0; i < kLimbs; ++i) out[i] = a[i] - b[i];
  return out;
}

Fe mul(const Fe& a, const Fe& b) {
  std::array<std::int64_t, 2 * kLimbs - 1> wide{};
  for (std::size_t i = 0; i < kLimbs; ++i) {
    for (std::size_t j = 0; j < kLimbs; ++j) wide[i + j] += a[i] * b[j];
  }
  Fe out;
  for (std::size_t i = 0; i < kLimbs; ++i) {
    out[i] = wide[i] + (i + kLimbs < wide.size() ? kFold * wide[i + kLimbs] : 0);
  }
  carry(out);
  carry(out);
  return out;
}

Fe square(const Fe& a) {
  return mul(a, a);
}

// base^exponent, the exponent as 32 little-endian bytes; square and multiply from the top bit.
Fe power(const Fe& base, const Bytes32& exponent) {
  Fe out = kOne;
  for (std::size_t bit = 256; bit-- > 0;) {
    out = square(out);
    if ((exponent[bit / 8] >> (bit % 8)) & 1) out = mul(out, base);
  }
  return out;
}

// The canonical encoding: the value reduced into [0, p), as 32 little-endian bytes.
Bytes32 to_bytes(Fe x) {
  // Three passes bring every limb into [0, 2^16): the first leaves limbs 1..15 there, the second
  // leaves a top carry of at most one either way, which the third absorbs. The value is then
  // below 2^256 = 2p + 38, so subtracting p at most twice reduces it.
  carry(x);
  carry(x);
  carry(x);
  for (int round = 0; round < 2; ++round) {
    Fe less;
    std::int64_t borrow = 0;
    for (std::size_t i = 0; i < kLimbs; ++i) {
      const std::int64_t p_limb = i == 0 ? 0xffed : (i == kLimbs - 1 ? 0x7fff : 0xffff);
      less[i] = x[i] - p_limb - borrow;
      borrow = less[i] < 0 ? 1 : 0;
      less[i] += borrow * kRadix;
    }
    if (borrow == 0) x = less;  // x >= p
  }
  Bytes32 out{};
  for (std::size_t i = 0; i < kLimbs; ++i) {
    out[2 * i] = static_cast<std::uint8_t>(x[i] & 0xff);
    out[2 * i + 1] = static_cast<std::uint8_t>(x[i] >> 8);
  }
  return out;
}

bool equal(const Fe& a, const Fe& b) {
  return to_bytes(a) == to_bytes(b);
}

// ---------------------------------------------------------------------------------------------
// Points of edwards25519 in extended coordinates (section 5.1.4): x = X/Z, y = Y/Z, x*y = T/Z.

struct Point {
  Fe x, y, z, t;
};

constexpr Point kIdentity{kZero, kOne, kOne, kZero};

// The addition formula of section 5.1.4. It is complete: it also doubles, and handles the
// identity, so the scalar multiplication needs no special cases.
Point point_add(const Point& p, const Point& q) {
  const Fe a = mul(sub(p.y, p.x), sub(q.y, q.x));
  const Fe b = mul(add(p.y, p.x), add(q.y, q.x));
  const Fe c = mul(mul(p.t, kD2), q.t);
  const Fe d = mul(add(p.z, p.z), q.z);
  const Fe e = sub(b, a);
  const Fe f = sub(d, c);
  const Fe g = add(d, c);
  const Fe h = add(b, a);
  return {mul(e, f), mul(g, h), mul(f, g), mul(e, h)};
}

// The doubling formula of section 5.1.4 (fewer products than adding a point to itself).
Point point_double(const Point& p) {
  const Fe a = square(p.x);
  const Fe b = square(p.y);
  const Fe zz = square(p.z);
  const Fe c = add(zz, zz);
  const Fe h = add(a, b);
  const Fe e = sub(h, square(add(p.x, p.y)));
  const Fe g = sub(a, b);
  const Fe f = add(c, g);
  return {mul(e, f), mul(g, h), mul(f, g), mul(e, h)};
}

Point point_negate(const Point& p) {
  return {sub(kZero, p.x), p.y, p.z, sub(kZero, p.t)};
}

// Projective equality: x1/z1 = x2/z2 and y1/z1 = y2/z2.
bool point_equal(const Point& p, const Point& q) {
  return equal(mul(p.x, q.z), mul(q.x, p.z)) && equal(mul(p.y, q.z), mul(q.y, p.z));
}

// Section 5.1.3. Refuses what the RFC refuses: a y that is not below p (a non-canonical
// encoding), a y with no x on the curve, and x = 0 with the sign bit set.
bool decode_point(std::string_view encoded, Point& out) {
  Bytes32 bytes{};
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(encoded[i]);
  const int x_sign = bytes[31] >> 7;
  bytes[31] &= 0x7f;
  const Fe y = fe_from_bytes(bytes);
  if (to_bytes(y) != bytes) return false;  // y >= p: reduced, it reads differently

  // x^2 = (y^2 - 1) / (d y^2 + 1) = u / v; the candidate root is u v^3 (u v^7)^((p-5)/8).
  const Fe y2 = square(y);
  const Fe u = sub(y2, kOne);
  const Fe v = add(mul(kD, y2), kOne);
  const Fe v3 = mul(square(v), v);
  const Fe v7 = mul(square(v3), v);
  Fe x = mul(mul(u, v3), power(mul(u, v7), kSqrtExponent));
  const Fe vx2 = mul(v, square(x));
  if (!equal(vx2, u)) {
    if (!equal(vx2, sub(kZero, u))) return false;  // u/v is not a square: no such point
    x = mul(x, kSqrtMinusOne);
  }
  const Bytes32 x_bytes = to_bytes(x);
  if (x_bytes == Bytes32{} && x_sign == 1) return false;
  if ((x_bytes[0] & 1) != x_sign) x = sub(kZero, x);
  out = {x, y, kOne, mul(x, y)};
  return true;
}

// ---------------------------------------------------------------------------------------------
// Scalars: integers below 2^256 as eight little-endian 32-bit words.

using Scalar = std::array<std::uint32_t, 8>;

// L = 2^252 + 27742317777372353535851937790883648493, the order of B (section 5.1).
constexpr Scalar kOrder = {0x5cf5d3ed, 0x5812631a, 0xa2f79cd6, 0x14def9de,
                           0x00000000, 0x00000000, 0x00000000, 0x10000000};

bool less_than(const Scalar& a, const Scalar& b) {
  for (std::size_t i = a.size(); i-- > 0;) {
    if (a[i] != b[i]) return a[i] < b[i];
  }
  return false;
}

void subtract(Scalar& a, const Scalar& b) {
  std::uint64_t borrow = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    // Wraps modulo 2^64 when negative, which sets the upper half: that is the borrow.
    const std::uint64_t difference = std::uint64_t{a[i]} - b[i] - borrow;
    a[i] = static_cast<std::uint32_t>(difference);
    borrow = (difference >> 32) & 1;
  }
}

Scalar scalar_from_bytes(std::string_view bytes) {
  Scalar out{};
  for (std::size_t i = 0; i < 32; ++i) {
    out[i / 4] |= std::uint32_t{static_cast<std::uint8_t>(bytes[i])} << (8 * (i % 4));
  }
  return out;
}

// A 64-byte little-endian number (a SHA-512 digest) mod L, by binary long division: from the
// top bit down, the remainder doubles, takes the next bit and drops L when it reaches it. The
// remainder stays below L < 2^253, so doubling it never overflows the eight words.
Scalar reduce_mod_order(const Sha512Digest& digest) {
  Scalar r{};
  for (std::size_t bit = digest.size() * 8; bit-- > 0;) {
    for (std::size_t i = r.size(); i-- > 1;) r[i] = (r[i] << 1) | (r[i - 1] >> 31);
    r[0] = (r[0] << 1) | ((digest[bit / 8] >> (bit % 8)) & 1);
    if (!less_than(r, kOrder)) subtract(r, kOrder);
  }
  return r;
}

int bit_of(const Scalar& s, std::size_t bit) {
  return static_cast<int>((s[bit / 32] >> (bit % 32)) & 1);
}

// [s]P + [k]Q in one pass over the bits (Straus): one doubling per bit and at most one addition
// of P, Q or P + Q.
Point double_multiply(const Scalar& s, const Point& p, const Scalar& k, const Point& q) {
  const Point both = point_add(p, q);
  Point acc = kIdentity;
  for (std::size_t bit = 256; bit-- > 0;) {
    acc = point_double(acc);
    const int sb = bit_of(s, bit);
    const int kb = bit_of(k, bit);
    if (sb && kb) {
      acc = point_add(acc, both);
    } else if (sb) {
      acc = point_add(acc, p);
    } else if (kb) {
      acc = point_add(acc, q);
    }
  }
  return acc;
}

}  // namespace

bool ed25519_verify(std::string_view public_key, std::string_view signature,
                    std::span<const std::string_view> message_parts) {
  if (public_key.size() != 32 || signature.size() != 64) return false;
  const std::string_view r_bytes = signature.substr(0, 32);
  Point a;
  Point r;
  if (!decode_point(public_key, a) || !decode_point(r_bytes, r)) return false;
  const Scalar s = scalar_from_bytes(signature.substr(32));
  if (!less_than(s, kOrder)) return false;  // S >= L: the RFC refuses it (malleability)

  Sha512 hash;  // k = SHA-512(dom2(F, C) || R || A || PH(M)); pure Ed25519: no dom2, PH = id
  hash.update(r_bytes);
  hash.update(public_key);
  for (const std::string_view part : message_parts) hash.update(part);
  const Scalar k = reduce_mod_order(hash.finish());

  // [S]B = R + [k]A, checked as [S]B + [k](-A) = R.
  const Point base{kBaseX, kBaseY, kOne, mul(kBaseX, kBaseY)};
  return point_equal(double_multiply(s, base, k, point_negate(a)), r);
}

bool ed25519_verify(std::string_view public_key, std::string_view signature,
                    std::string_view message) {
  return ed25519_verify(public_key, signature, std::span<const std::string_view>(&message, 1));
}

}  // namespace callhook::crypto
