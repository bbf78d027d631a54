// Dependency-free hashing, HMAC, Ed25519 verification and text encodings for verifying webhook
// signatures.
//
// Nothing here allocates except the functions returning std::string, nothing throws, and the
// results do not depend on the host's byte order.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace callhook::crypto {

using Sha1Digest = std::array<std::uint8_t, 20>;
using Sha256Digest = std::array<std::uint8_t, 32>;
using Sha512Digest = std::array<std::uint8_t, 64>;

namespace detail {
/// A hash's block buffer and message length: 64-byte blocks for SHA-1 and SHA-256, 128-byte
/// blocks for SHA-512.
template <std::size_t Size>
struct BlockBufferOf {
  std::array<std::uint8_t, Size> block{};
  std::size_t used = 0;     // bytes waiting in `block`
  std::uint64_t total = 0;  // bytes fed so far
};
using BlockBuffer = BlockBufferOf<64>;
}  // namespace detail

/// Incremental SHA-1 (FIPS 180-4). Feeding a message in any number of update() calls, split
/// anywhere, gives the same digest as feeding it at once. finish() returns the digest of
/// everything fed since construction (or the previous finish()) and resets the object, so it can
/// hash a new message. SHA-1 is here only because some webhook providers still sign with it.
class Sha1 {
 public:
  Sha1();
  void update(std::string_view bytes);
  [[nodiscard]] Sha1Digest finish();

 private:
  void reset();
  std::array<std::uint32_t, 5> state_{};
  detail::BlockBuffer buffer_;
};

/// Incremental SHA-256 (FIPS 180-4), with the same update()/finish() contract as Sha1.
class Sha256 {
 public:
  Sha256();
  void update(std::string_view bytes);
  [[nodiscard]] Sha256Digest finish();

 private:
  void reset();
  std::array<std::uint32_t, 8> state_{};
  detail::BlockBuffer buffer_;
};

/// Incremental SHA-512 (FIPS 180-4), with the same update()/finish() contract as Sha1. Ed25519
/// hashes with it.
class Sha512 {
 public:
  Sha512();
  void update(std::string_view bytes);
  [[nodiscard]] Sha512Digest finish();

 private:
  void reset();
  std::array<std::uint64_t, 8> state_{};
  detail::BlockBufferOf<128> buffer_;
};

/// One-shot digests of `bytes`.
[[nodiscard]] Sha1Digest sha1(std::string_view bytes);
[[nodiscard]] Sha256Digest sha256(std::string_view bytes);
[[nodiscard]] Sha512Digest sha512(std::string_view bytes);

/// Incremental HMAC-SHA1 (RFC 2104) keyed with `key` of any length (keys longer than 64 bytes are
/// hashed first, as the RFC says). update() may be called any number of times with pieces of the
/// message; finish() returns the MAC of everything fed since construction (or the previous
/// finish()) and restarts with the same key. The key itself is not retained, only the hash
/// states derived from it.
class HmacSha1 {
 public:
  explicit HmacSha1(std::string_view key);
  void update(std::string_view bytes);
  [[nodiscard]] Sha1Digest finish();

 private:
  Sha1 inner_start_;  // keyed with key ^ ipad, no message yet
  Sha1 outer_start_;  // keyed with key ^ opad
  Sha1 inner_;        // inner_start_ plus the message so far
};

/// Incremental HMAC-SHA256 (RFC 2104 / RFC 4231), with the same contract as HmacSha1.
class HmacSha256 {
 public:
  explicit HmacSha256(std::string_view key);
  void update(std::string_view bytes);
  [[nodiscard]] Sha256Digest finish();

 private:
  Sha256 inner_start_;
  Sha256 outer_start_;
  Sha256 inner_;
};

/// One-shot MACs of `message` under `key`.
[[nodiscard]] Sha1Digest hmac_sha1(std::string_view key, std::string_view message);
[[nodiscard]] Sha256Digest hmac_sha256(std::string_view key, std::string_view message);

/// Ed25519 signature verification (RFC 8032 section 5.1.7, pure Ed25519: no context, no
/// prehash). `public_key` is the 32-byte encoding of A, `signature` the 64 bytes R || S, and the
/// message is the concatenation of `message_parts` (so a caller can sign "id.timestamp.body"
/// without copying the body). True only when every check of the RFC passes: both sizes are
/// right, A and R decode (a y coordinate >= p, or x = 0 with the sign bit set, is refused as
/// non-canonical), S < L, and [S]B = R + [k]A with k = SHA-512(R || A || message) mod L (the
/// cofactorless equation the RFC allows). Allocates nothing and does not run in constant time:
/// verification only handles public values.
[[nodiscard]] bool ed25519_verify(std::string_view public_key, std::string_view signature,
                                  std::span<const std::string_view> message_parts);
[[nodiscard]] bool ed25519_verify(std::string_view public_key, std::string_view signature,
                                  std::string_view message);

/// Base64 (RFC 4648 section 4): standard alphabet, '=' padding, no line breaks.
[[nodiscard]] std::string base64_encode(std::span<const std::uint8_t> bytes);

/// Decodes base64 in the standard ('+', '/') or URL-safe ('-', '_', RFC 4648 section 5) alphabet,
/// with or without '=' padding. Returns nullopt for any character outside the alphabet
/// (whitespace included), a text mixing both alphabets, padding that is partial or not at the end,
/// a length no encoding can have (one character left over), or a final character whose unused
/// low bits are not zero (so every byte string has exactly one accepted encoding per alphabet,
/// padded or not). The empty text decodes to the empty string.
[[nodiscard]] std::optional<std::string> base64_decode(std::string_view text);

/// Lower-case hex, two digits per byte.
[[nodiscard]] std::string hex_encode(std::span<const std::uint8_t> bytes);

/// Decodes hex digits of either case. Returns nullopt for an odd length or any non-hex character.
[[nodiscard]] std::optional<std::string> hex_decode(std::string_view text);

/// True when `a` and `b` hold the same bytes. When the lengths are equal, the time taken does not
/// depend on the contents (in particular not on where they first differ); unequal lengths return
/// false at once, so only the length may leak.
[[nodiscard]] bool constant_time_equal(std::string_view a, std::string_view b);

/// Views a digest (or any bytes) as chars, e.g. to compare it with a decoded signature.
[[nodiscard]] inline std::string_view char_view(std::span<const std::uint8_t> bytes) {
  // uint8_t is unsigned char wherever it exists, and char may alias any object.
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

/// Views chars as bytes, e.g. to hex- or base64-encode a std::string.
[[nodiscard]] inline std::span<const std::uint8_t> byte_view(std::string_view chars) {
  return {reinterpret_cast<const std::uint8_t*>(chars.data()), chars.size()};
}

}  // namespace callhook::crypto
