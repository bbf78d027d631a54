// Eight-bytes-at-a-time scanning ("SIMD within a register") for the hot byte loops (internal).
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace callhook::detail {

inline constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
inline constexpr std::uint64_t kHighs = 0x8080808080808080ULL;

inline std::uint64_t load8(const char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
/// High bit set in each byte lane of `v` that is zero (exact for the lowest such lane).
inline std::uint64_t zero_lanes(std::uint64_t v) {
  return (v - kOnes) & ~v & kHighs;
}
inline std::uint64_t byte_lanes(std::uint64_t v, unsigned char b) {
  return zero_lanes(v ^ (kOnes * b));
}
/// Non-zero when some byte of `v` is below `n` (n <= 128).
inline std::uint64_t less_lanes(std::uint64_t v, unsigned char n) {
  return (v - kOnes * n) & ~v & kHighs;
}

/// Index of the first byte at or after `from` for which `interesting(word)` flags a lane, or a
/// position within 7 bytes of the end from which the caller must continue byte by byte.
template <typename Flags>
std::size_t skip_plain(std::string_view s, std::size_t from, Flags interesting) {
  while (from + 8 <= s.size() && interesting(load8(s.data() + from)) == 0) from += 8;
  return from;
}

}  // namespace callhook::detail
