#include "crypto.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace callhook::crypto {
namespace {

constexpr std::size_t kBlockSize = 64;

constexpr std::uint32_t rotl(std::uint32_t x, int n) {
  return (x << n) | (x >> (32 - n));
}
constexpr std::uint32_t rotr(std::uint32_t x, int n) {
  return (x >> n) | (x << (32 - n));
}

constexpr std::uint64_t rotr64(std::uint64_t x, int n) {
  return (x >> n) | (x << (64 - n));
}

constexpr std::uint8_t byte_at(std::string_view bytes, std::size_t i) {
  return static_cast<std::uint8_t>(bytes[i]);
}

std::uint32_t load_be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

void store_be32(std::uint32_t v, std::uint8_t* p) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

std::uint64_t load_be64(const std::uint8_t* p) {
  return (std::uint64_t{load_be32(p)} << 32) | load_be32(p + 4);
}

void store_be64(std::uint64_t v, std::uint8_t* p) {
  store_be32(static_cast<std::uint32_t>(v >> 32), p);
  store_be32(static_cast<std::uint32_t>(v), p + 4);
}

// Feeds `bytes` through the block buffer, calling compress(block) for every full block. Full
// blocks of the input are compressed in place, without being copied into the buffer.
template <std::size_t Size, typename Compress>
void absorb(detail::BlockBufferOf<Size>& buf, std::string_view chars, Compress compress) {
  const std::span<const std::uint8_t> bytes = byte_view(chars);
  buf.total += bytes.size();
  std::size_t i = 0;
  if (buf.used > 0) {
    while (buf.used < Size && i < bytes.size()) buf.block[buf.used++] = bytes[i++];
    if (buf.used < Size) return;
    compress(buf.block.data());
    buf.used = 0;
  }
  for (; bytes.size() - i >= Size; i += Size) compress(bytes.data() + i);
  while (i < bytes.size()) buf.block[buf.used++] = bytes[i++];
}

// Appends the Merkle-Damgard padding of the SHA family: 0x80, zeros, and the message length in
// bits as a big-endian number filling the block's last eighth (64 bits for 64-byte blocks, 128
// for SHA-512's 128-byte blocks, whose upper half is zero here: the length is a uint64_t of
// bytes), so the message ends on a block boundary.
template <std::size_t Size, typename Compress>
void pad(detail::BlockBufferOf<Size>& buf, Compress compress) {
  constexpr std::size_t kLengthBytes = Size / 8;
  const std::uint64_t bits = buf.total * 8;
  buf.block[buf.used++] = 0x80;
  if (buf.used > Size - kLengthBytes) {
    while (buf.used < Size) buf.block[buf.used++] = 0;
    compress(buf.block.data());
    buf.used = 0;
  }
  while (buf.used < Size - 8) buf.block[buf.used++] = 0;
  for (int k = 7; k >= 0; --k) buf.block[buf.used++] = static_cast<std::uint8_t>(bits >> (8 * k));
  compress(buf.block.data());
  buf.used = 0;
}

void sha1_compress(std::array<std::uint32_t, 5>& state, const std::uint8_t* block) {
  std::array<std::uint32_t, 80> w{};
  for (std::size_t t = 0; t < 16; ++t) w[t] = load_be32(block + 4 * t);
  for (std::size_t t = 16; t < 80; ++t) w[t] = rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
  std::uint32_t a = state[0], b = state[1], c = state[2], d = state[3], e = state[4];
  for (std::size_t t = 0; t < 80; ++t) {
    std::uint32_t f = 0;
    std::uint32_t k = 0;
    if (t < 20) {
      f = (b & c) | (~b & d);
      k = 0x5A827999;
    } else if (t < 40) {
      f = b ^ c ^ d;
      k = 0x6ED9EBA1;
    } else if (t < 60) {
      f = (b & c) | (b & d) | (c & d);
      k = 0x8F1BBCDC;
    } else {
      f = b ^ c ^ d;
      k = 0xCA62C1D6;
    }
    const std::uint32_t temp = rotl(a, 5) + f + e + k + w[t];
    e = d;
    d = c;
    c = rotl(b, 30);
    b = a;
    a = temp;
  }
  state[0] += a;
  state[1] += b;
  state[2] += c;
  state[3] += d;
  state[4] += e;
}

constexpr std::array<std::uint32_t, 64> kSha256K = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

// FIPS 180-4's SHA-2 compression: SHA-256 and SHA-512 differ only in word size, round count,
// constants and rotation amounts, which a shape supplies.
struct Sha256Shape {
  using Word = std::uint32_t;
  static constexpr std::size_t kRounds = 64;
  static constexpr int kSigma0[3] = {7, 18, 3}, kSigma1[3] = {17, 19, 10};  // message schedule
  static constexpr int kSum0[3] = {2, 13, 22}, kSum1[3] = {6, 11, 25};      // rounds
  static Word load(const std::uint8_t* p) { return load_be32(p); }
  static Word rot(Word x, int n) { return rotr(x, n); }
  static Word k(std::size_t t) { return kSha256K[t]; }
};

template <class Shape>
void sha2_compress(std::array<typename Shape::Word, 8>& state, const std::uint8_t* block) {
  using Word = typename Shape::Word;
  std::array<Word, Shape::kRounds> w{};
  for (std::size_t t = 0; t < 16; ++t) w[t] = Shape::load(block + sizeof(Word) * t);
  for (std::size_t t = 16; t < Shape::kRounds; ++t) {
    const auto* g0 = Shape::kSigma0;
    const auto* g1 = Shape::kSigma1;
    const Word s0 =
        Shape::rot(w[t - 15], g0[0]) ^ Shape::rot(w[t - 15], g0[1]) ^ (w[t - 15] >> g0[2]);
    const Word s1 = Shape::rot(w[t - 2], g1[0]) ^ Shape::rot(w[t - 2], g1[1]) ^ (w[t - 2] >> g1[2]);
    w[t] = w[t - 16] + s0 + w[t - 7] + s1;
  }
  Word a = state[0], b = state[1], c = state[2], d = state[3];
  Word e = state[4], f = state[5], g = state[6], h = state[7];
  for (std::size_t t = 0; t < Shape::kRounds; ++t) {
    const auto* r0 = Shape::kSum0;
    const auto* r1 = Shape::kSum1;
    const Word s1 = Shape::rot(e, r1[0]) ^ Shape::rot(e, r1[1]) ^ Shape::rot(e, r1[2]);
    const Word ch = (e & f) ^ (~e & g);
    const Word temp1 = h + s1 + ch + Shape::k(t) + w[t];
    const Word s0 = Shape::rot(a, r0[0]) ^ Shape::rot(a, r0[1]) ^ Shape::rot(a, r0[2]);
    const Word maj = (a & b) ^ (a & c) ^ (b & c);
    const Word temp2 = s0 + maj;
    h = g;
    g = f;
    f = e;
    e = d + temp1;
    d = c;
    c = b;
    b = a;
    a = temp1 + temp2;
  }
  state[0] += a;
  state[1] += b;
  state[2] += c;
  state[3] += d;
  state[4] += e;
  state[5] += f;
  state[6] += g;
  state[7] += h;
}

void sha256_compress(std::array<std::uint32_t, 8>& state, const std::uint8_t* block) {
  sha2_compress<Sha256Shape>(state, block);
}

// SHA-512's round constants (FIPS 180-4 section 4.2.3): the first 64 bits of the fractional
// parts of the cube roots of the first 80 primes.
constexpr std::array<std::uint64_t, 80> kSha512K = {
    0x428a2f98d728ae22, 0x7137449123ef65cd, 0xb5c0fbcfec4d3b2f, 0xe9b5dba58189dbbc,
    0x3956c25bf348b538, 0x59f111f1b605d019, 0x923f82a4af194f9b, 0xab1c5ed5da6d8118,
    0xd807aa98a3030242, 0x12835b0145706fbe, 0x243185be4ee4b28c, 0x550c7dc3d5ffb4e2,
    0x72be5d74f27b896f, 0x80deb1fe3b1696b1, 0x9bdc06a725c71235, 0xc19bf174cf692694,
    0xe49b69c19ef14ad2, 0xefbe4786384f25e3, 0x0fc19dc68b8cd5b5, 0x240ca1cc77ac9c65,
    0x2de92c6f592b0275, 0x4a7484aa6ea6e483, 0x5cb0a9dcbd41fbd4, 0x76f988da831153b5,
    0x983e5152ee66dfab, 0xa831c66d2db43210, 0xb00327c898fb213f, 0xbf597fc7beef0ee4,
    0xc6e00bf33da88fc2, 0xd5a79147930aa725, 0x06ca6351e003826f, 0x142929670a0e6e70,
    0x27b70a8546d22ffc, 0x2e1b21385c26c926, 0x4d2c6dfc5ac42aed, 0x53380d139d95b3df,
    0x650a73548baf63de, 0x766a0abb3c77b2a8, 0x81c2c92e47edaee6, 0x92722c851482353b,
    0xa2bfe8a14cf10364, 0xa81a664bbc423001, 0xc24b8b70d0f89791, 0xc76c51a30654be30,
    0xd192e819d6ef5218, 0xd69906245565a910, 0xf40e35855771202a, 0x106aa07032bbd1b8,
    0x19a4c116b8d2d0c8, 0x1e376c085141ab53, 0x2748774cdf8eeb99, 0x34b0bcb5e19b48a8,
    0x391c0cb3c5c95a63, 0x4ed8aa4ae3418acb, 0x5b9cca4f7763e373, 0x682e6ff3d6b2b8a3,
    0x748f82ee5defb2fc, 0x78a5636f43172f60, 0x84c87814a1f0ab72, 0x8cc702081a6439ec,
    0x90befffa23631e28, 0xa4506cebde82bde9, 0xbef9a3f7b2c67915, 0xc67178f2e372532b,
    0xca273eceea26619c, 0xd186b8c721c0c207, 0xeada7dd6cde0eb1e, 0xf57d4f7fee6ed178,
    0x06f067aa72176fba, 0x0a637dc5a2c898a6, 0x113f9804bef90dae, 0x1b710b35131c471b,
    0x28db77f523047d84, 0x32caab7b40c72493, 0x3c9ebe0a15c9bebc, 0x431d67c49c100d4c,
    0x4cc5d4becb3e42b6, 0x597f299cfc657e2a, 0x5fcb6fab3ad6faec, 0x6c44198c4a475817,
};

struct Sha512Shape {
  using Word = std::uint64_t;
  static constexpr std::size_t kRounds = 80;
  static constexpr int kSigma0[3] = {1, 8, 7}, kSigma1[3] = {19, 61, 6};
  static constexpr int kSum0[3] = {28, 34, 39}, kSum1[3] = {14, 18, 41};
  static Word load(const std::uint8_t* p) { return load_be64(p); }
  static Word rot(Word x, int n) { return rotr64(x, n); }
  static Word k(std::size_t t) { return kSha512K[t]; }
};

void sha512_compress(std::array<std::uint64_t, 8>& state, const std::uint8_t* block) {
  sha2_compress<Sha512Shape>(state, block);
}

// Derives the HMAC starting states (RFC 2104): the key, hashed first when longer than a block and
// zero-padded to a block, XORed with ipad (0x36) for the inner hash and opad (0x5c) for the outer.
template <typename Hash>
void hmac_init(std::string_view key, Hash& inner, Hash& outer) {
  std::array<std::uint8_t, kBlockSize> key_block{};
  if (key.size() > kBlockSize) {
    Hash h;
    h.update(key);
    const auto digest = h.finish();
    for (std::size_t i = 0; i < digest.size(); ++i) key_block[i] = digest[i];
  } else {
    for (std::size_t i = 0; i < key.size(); ++i) key_block[i] = byte_at(key, i);
  }
  std::array<char, kBlockSize> pad_block{};
  for (std::size_t i = 0; i < kBlockSize; ++i)
    pad_block[i] = static_cast<char>(key_block[i] ^ 0x36);
  inner.update({pad_block.data(), pad_block.size()});
  for (std::size_t i = 0; i < kBlockSize; ++i)
    pad_block[i] = static_cast<char>(key_block[i] ^ 0x5c);
  outer.update({pad_block.data(), pad_block.size()});
}

template <typename Hash>
auto hmac_finish(Hash& inner, const Hash& outer_start) {
  const auto inner_digest = inner.finish();
  Hash outer = outer_start;
  outer.update(char_view(inner_digest));
  return outer.finish();
}

constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Base64 digit values; kInvalid for bytes in neither alphabet ('=' included).
constexpr std::uint8_t kInvalid = 0xff;
constexpr std::array<std::uint8_t, 256> kBase64Values = [] {
  std::array<std::uint8_t, 256> table{};
  for (auto& v : table) v = kInvalid;
  for (std::uint8_t i = 0; i < 64; ++i) table[static_cast<unsigned char>(kBase64Alphabet[i])] = i;
  table['-'] = 62;
  table['_'] = 63;
  return table;
}();

constexpr std::array<std::uint8_t, 256> kHexValues = [] {
  std::array<std::uint8_t, 256> table{};
  for (auto& v : table) v = kInvalid;
  for (std::uint8_t i = 0; i < 10; ++i) table['0' + i] = i;
  for (std::uint8_t i = 0; i < 6; ++i) {
    table['a' + i] = static_cast<std::uint8_t>(10 + i);
    table['A' + i] = static_cast<std::uint8_t>(10 + i);
  }
  return table;
}();

constexpr char kHexDigits[] = "0123456789abcdef";

}  // namespace

Sha1::Sha1() {
  reset();
}

void Sha1::reset() {
  state_ = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  buffer_ = {};
}

void Sha1::update(std::string_view bytes) {
  absorb(buffer_, bytes, [this](const std::uint8_t* block) { sha1_compress(state_, block); });
}

Sha1Digest Sha1::finish() {
  pad(buffer_, [this](const std::uint8_t* block) { sha1_compress(state_, block); });
  Sha1Digest out{};
  for (std::size_t i = 0; i < state_.size(); ++i) store_be32(state_[i], out.data() + 4 * i);
  reset();
  return out;
}

Sha256::Sha256() {
  reset();
}

void Sha256::reset() {
  state_ = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
            0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  buffer_ = {};
}

void Sha256::update(std::string_view bytes) {
  absorb(buffer_, bytes, [this](const std::uint8_t* block) { sha256_compress(state_, block); });
}

Sha256Digest Sha256::finish() {
  pad(buffer_, [this](const std::uint8_t* block) { sha256_compress(state_, block); });
  Sha256Digest out{};
  for (std::size_t i = 0; i < state_.size(); ++i) store_be32(state_[i], out.data() + 4 * i);
  reset();
  return out;
}

Sha512::Sha512() {
  reset();
}

void Sha512::reset() {
  // FIPS 180-4 section 5.3.5: the first 64 bits of the fractional parts of the square roots of
  // the first 8 primes.
  state_ = {0x6a09e667f3bcc908, 0xbb67ae8584caa73b, 0x3c6ef372fe94f82b, 0xa54ff53a5f1d36f1,
            0x510e527fade682d1, 0x9b05688c2b3e6c1f, 0x1f83d9abfb41bd6b, 0x5be0cd19137e2179};
  buffer_ = {};
}

void Sha512::update(std::string_view bytes) {
  absorb(buffer_, bytes, [this](const std::uint8_t* block) { sha512_compress(state_, block); });
}

Sha512Digest Sha512::finish() {
  pad(buffer_, [this](const std::uint8_t* block) { sha512_compress(state_, block); });
  Sha512Digest out{};
  for (std::size_t i = 0; i < state_.size(); ++i) store_be64(state_[i], out.data() + 8 * i);
  reset();
  return out;
}

Sha1Digest sha1(std::string_view bytes) {
  Sha1 h;
  h.update(bytes);
  return h.finish();
}

Sha256Digest sha256(std::string_view bytes) {
  Sha256 h;
  h.update(bytes);
  return h.finish();
}

Sha512Digest sha512(std::string_view bytes) {
  Sha512 h;
  h.update(bytes);
  return h.finish();
}

HmacSha1::HmacSha1(std::string_view key) {
  hmac_init(key, inner_start_, outer_start_);
  inner_ = inner_start_;
}

void HmacSha1::update(std::string_view bytes) {
  inner_.update(bytes);
}

Sha1Digest HmacSha1::finish() {
  const Sha1Digest mac = hmac_finish(inner_, outer_start_);
  inner_ = inner_start_;
  return mac;
}

HmacSha256::HmacSha256(std::string_view key) {
  hmac_init(key, inner_start_, outer_start_);
  inner_ = inner_start_;
}

void HmacSha256::update(std::string_view bytes) {
  inner_.update(bytes);
}

Sha256Digest HmacSha256::finish() {
  const Sha256Digest mac = hmac_finish(inner_, outer_start_);
  inner_ = inner_start_;
  return mac;
}

Sha1Digest hmac_sha1(std::string_view key, std::string_view message) {
  HmacSha1 h(key);
  h.update(message);
  return h.finish();
}

Sha256Digest hmac_sha256(std::string_view key, std::string_view message) {
  HmacSha256 h(key);
  h.update(message);
  return h.finish();
}

std::string base64_encode(std::span<const std::uint8_t> bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; bytes.size() - i >= 3; i += 3) {
    const std::uint32_t n =
        (std::uint32_t{bytes[i]} << 16) | (std::uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    out += kBase64Alphabet[(n >> 18) & 63];
    out += kBase64Alphabet[(n >> 12) & 63];
    out += kBase64Alphabet[(n >> 6) & 63];
    out += kBase64Alphabet[n & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    const std::uint32_t n = std::uint32_t{bytes[i]} << 16;
    out += kBase64Alphabet[(n >> 18) & 63];
    out += kBase64Alphabet[(n >> 12) & 63];
    out += "==";
  } else if (rest == 2) {
    const std::uint32_t n = (std::uint32_t{bytes[i]} << 16) | (std::uint32_t{bytes[i + 1]} << 8);
    out += kBase64Alphabet[(n >> 18) & 63];
    out += kBase64Alphabet[(n >> 12) & 63];
    out += kBase64Alphabet[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  std::size_t padding = 0;
  while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') ++padding;
  if (padding > 0 && text.size() % 4 != 0) return std::nullopt;  // padding must complete a group
  const std::string_view digits = text.substr(0, text.size() - padding);
  const std::size_t rest = digits.size() % 4;
  if (rest == 1) return std::nullopt;  // 6 bits cannot make a byte
  if (padding > 0 && rest + padding != 4) return std::nullopt;

  bool standard = false;
  bool url_safe = false;
  for (const char c : digits) {
    if (kBase64Values[static_cast<unsigned char>(c)] == kInvalid) return std::nullopt;
    standard = standard || c == '+' || c == '/';
    url_safe = url_safe || c == '-' || c == '_';
  }
  if (standard && url_safe) return std::nullopt;

  const auto value = [&](std::size_t i) -> std::uint32_t {
    return kBase64Values[static_cast<unsigned char>(digits[i])];
  };
  std::string out;
  out.reserve(digits.size() / 4 * 3 + 2);
  std::size_t i = 0;
  for (; digits.size() - i >= 4; i += 4) {
    const std::uint32_t n =
        (value(i) << 18) | (value(i + 1) << 12) | (value(i + 2) << 6) | value(i + 3);
    out += static_cast<char>(n >> 16);
    out += static_cast<char>((n >> 8) & 0xff);
    out += static_cast<char>(n & 0xff);
  }
  if (rest == 2) {
    const std::uint32_t n = (value(i) << 18) | (value(i + 1) << 12);
    if ((n & 0xffff) != 0) return std::nullopt;  // non-zero unused bits
    out += static_cast<char>(n >> 16);
  } else if (rest == 3) {
    const std::uint32_t n = (value(i) << 18) | (value(i + 1) << 12) | (value(i + 2) << 6);
    if ((n & 0xff) != 0) return std::nullopt;
    out += static_cast<char>(n >> 16);
    out += static_cast<char>((n >> 8) & 0xff);
  }
  return out;
}

std::string hex_encode(std::span<const std::uint8_t> bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const std::uint8_t b : bytes) {
    out += kHexDigits[b >> 4];
    out += kHexDigits[b & 0x0f];
  }
  return out;
}

std::optional<std::string> hex_decode(std::string_view text) {
  if (text.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 2);
  for (std::size_t i = 0; i < text.size(); i += 2) {
    const std::uint8_t hi = kHexValues[static_cast<unsigned char>(text[i])];
    const std::uint8_t lo = kHexValues[static_cast<unsigned char>(text[i + 1])];
    if (hi == kInvalid || lo == kInvalid) return std::nullopt;
    out += static_cast<char>((hi << 4) | lo);
  }
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  // OR together the XOR of every byte pair, with no data-dependent branch or early exit. The
  // volatile accumulator keeps the compiler from turning the loop back into a short-circuiting
  // comparison.
  volatile std::uint8_t diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff = static_cast<std::uint8_t>(diff | (byte_at(a, i) ^ byte_at(b, i)));
  }
  return diff == 0;
}

}  // namespace callhook::crypto
