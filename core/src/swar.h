// Eight-bytes-at-a-time scanning ("SIMD within a register") for the hot byte loops (internal).
#pragma once

#include <bit>
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
/// Eight bytes with the first one in the lowest lane, whatever the machine's byte order, so that
/// first_lane() below names the first flagged byte.
inline std::uint64_t load8_first_low(const char* p) {
  const std::uint64_t v = load8(p);
  if constexpr (std::endian::native == std::endian::big) return __builtin_bswap64(v);
  return v;
}
/// Index of the lowest flagged lane of a non-zero zero_lanes()/byte_lanes() mask.
inline unsigned first_lane(std::uint64_t lanes) {
  return static_cast<unsigned>(std::countr_zero(lanes)) / 8;
}
/// The lanes below `n` (< 8) of a word.
inline std::uint64_t lanes_below(unsigned n) {
  return (std::uint64_t{1} << (8 * n)) - 1;
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
/// `interesting` must flag the lowest interesting lane exactly (as the masks above do); lanes
/// above it may be flagged too.
template <typename Flags>
std::size_t skip_plain(std::string_view s, std::size_t from, Flags interesting) {
  while (from + 8 <= s.size()) {
    const std::uint64_t lanes = interesting(load8_first_low(s.data() + from));
    if (lanes != 0) return from + first_lane(lanes);
    from += 8;
  }
  return from;
}

}  // namespace callhook::detail
