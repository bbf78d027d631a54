// Tests for callhook/crypto.h against published vectors (RFC 3174, RFC 6234 / FIPS 180, RFC 2202,
// RFC 4231, RFC 4648, RFC 8032). Every expected value was cross-checked with python3
// hashlib/hmac/base64 and `openssl dgst`; the RFC 8032 signatures and public keys were
// reproduced with Node's crypto (crypto.sign with each test's secret key).
#include "crypto.h"

#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace callhook::crypto {
namespace {

std::string hex(std::span<const std::uint8_t> bytes) {
  return hex_encode(bytes);
}

// Bytes from a hex literal in the test itself (the literals are valid).
std::string unhex(std::string_view text) {
  return hex_decode(text).value_or("<bad hex>");
}

std::string repeat(std::string_view piece, std::size_t times) {
  std::string out;
  out.reserve(piece.size() * times);
  for (std::size_t i = 0; i < times; ++i) out += piece;
  return out;
}

// A message of `size` bytes covering every byte value, deterministic.
std::string pattern(std::size_t size) {
  std::string out(size, '\0');
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<char>((i * 31 + 7) & 0xff);
  return out;
}

constexpr std::string_view k448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
constexpr std::string_view k896 =
    "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopq"
    "rs"
    "mnopqrstnopqrstu";

// ---------------------------------------------------------------------------------------------
// SHA-1 (RFC 3174 section 7.3 test cases)

TEST(CryptoSha1, Rfc3174Abc) {
  EXPECT_EQ(hex(sha1("abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
}

TEST(CryptoSha1, Rfc3174Message448Bits) {
  ASSERT_EQ(k448.size() * 8, 448u);
  EXPECT_EQ(hex(sha1(k448)), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
}

TEST(CryptoSha1, Rfc3174MillionA) {
  EXPECT_EQ(hex(sha1(std::string(1000000, 'a'))), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
  // RFC 3174's own test program feeds this one a byte at a time.
  Sha1 h;
  for (int i = 0; i < 1000000; ++i) h.update("a");
  EXPECT_EQ(hex(h.finish()), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

TEST(CryptoSha1, Rfc3174TenRepetitions) {
  const std::string block = "0123456701234567012345670123456701234567012345670123456701234567";
  EXPECT_EQ(hex(sha1(repeat(block, 10))), "dea356a2cddd90c7a7ecedc5ebb563934f460452");
  Sha1 h;
  for (int i = 0; i < 10; ++i) h.update(block);
  EXPECT_EQ(hex(h.finish()), "dea356a2cddd90c7a7ecedc5ebb563934f460452");
}

TEST(CryptoSha1, EmptyAndPaddingBoundaries) {
  EXPECT_EQ(hex(sha1("")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  // 55 bytes fit the length in one block; 56..63 need a second padding block; 64 is exactly one.
  EXPECT_EQ(hex(sha1(std::string(55, 'a'))), "c1c8bbdc22796e28c0e15163d20899b65621d65a");
  EXPECT_EQ(hex(sha1(std::string(56, 'a'))), "c2db330f6083854c99d4b5bfb6e8f29f201be699");
  EXPECT_EQ(hex(sha1(std::string(63, 'a'))), "03f09f5b158a7a8cdad920bddc29b81c18a551f5");
  EXPECT_EQ(hex(sha1(std::string(64, 'a'))), "0098ba824b5c16427bd7a1122a5a442a25ec644d");
  EXPECT_EQ(hex(sha1(std::string(119, 'a'))), "ee971065aaa017e0632a8ca6c77bb3bf8b1dfc56");
  EXPECT_EQ(hex(sha1(std::string(120, 'a'))), "f34c1488385346a55709ba056ddd08280dd4c6d6");
}

TEST(CryptoSha1, FinishResetsForTheNextMessage) {
  Sha1 h;
  h.update("ab");
  h.update("c");
  EXPECT_EQ(hex(h.finish()), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(hex(h.finish()), "da39a3ee5e6b4b0d3255bfef95601890afd80709");  // empty message
  h.update("abc");
  EXPECT_EQ(hex(h.finish()), "a9993e364706816aba3e25717850c26c9cd0d89d");
}

// ---------------------------------------------------------------------------------------------
// SHA-256 (RFC 6234 section 8.5 / FIPS 180-2 appendix B)

TEST(CryptoSha256, Fips180Abc) {
  EXPECT_EQ(hex(sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(CryptoSha256, Fips180Message448Bits) {
  EXPECT_EQ(hex(sha256(k448)), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(CryptoSha256, Fips180Message896Bits) {
  ASSERT_EQ(k896.size() * 8, 896u);
  EXPECT_EQ(hex(sha256(k896)), "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST(CryptoSha256, Fips180MillionA) {
  EXPECT_EQ(hex(sha256(std::string(1000000, 'a'))),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  Sha256 h;
  for (int i = 0; i < 1000000; ++i) h.update("a");
  EXPECT_EQ(hex(h.finish()), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(CryptoSha256, EmptyAndPaddingBoundaries) {
  EXPECT_EQ(hex(sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hex(sha256(std::string(55, 'a'))),
            "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  EXPECT_EQ(hex(sha256(std::string(56, 'a'))),
            "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  EXPECT_EQ(hex(sha256(std::string(63, 'a'))),
            "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34");
  EXPECT_EQ(hex(sha256(std::string(64, 'a'))),
            "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
  EXPECT_EQ(hex(sha256(std::string(119, 'a'))),
            "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb");
  EXPECT_EQ(hex(sha256(std::string(120, 'a'))),
            "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c");
}

TEST(CryptoSha256, FinishResetsForTheNextMessage) {
  Sha256 h;
  h.update("abc");
  EXPECT_EQ(hex(h.finish()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex(h.finish()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

// ---------------------------------------------------------------------------------------------
// SHA-512 (FIPS 180-4 / RFC 6234 section 8.5)

TEST(CryptoSha512, Fips180Abc) {
  EXPECT_EQ(hex(sha512("abc")),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
            "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
}

TEST(CryptoSha512, Fips180Message896Bits) {
  EXPECT_EQ(hex(sha512(k896)),
            "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
            "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909");
}

TEST(CryptoSha512, Message448Bits) {
  EXPECT_EQ(hex(sha512(k448)),
            "204a8fc6dda82f0a0ced7beb8e08a41657c16ef468b228a8279be331a703c335"
            "96fd15c13b1b07f9aa1d3bea57789ca031ad85c7a71dd70354ec631238ca3445");
}

TEST(CryptoSha512, Fips180MillionA) {
  constexpr std::string_view expected =
      "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973eb"
      "de0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b";
  EXPECT_EQ(hex(sha512(std::string(1000000, 'a'))), expected);
  for (const std::size_t piece : {1u, 127u, 128u, 129u}) {
    Sha512 h;
    const std::string message(1000000, 'a');
    for (std::size_t at = 0; at < message.size(); at += piece) {
      h.update(std::string_view(message).substr(at, piece));
    }
    EXPECT_EQ(hex(h.finish()), expected) << "pieces of " << piece;
  }
}

// 111 bytes is the longest message whose padding fits its block (the length takes 16 bytes).
TEST(CryptoSha512, EmptyAndPaddingBoundaries) {
  const std::vector<std::pair<std::size_t, std::string_view>> cases = {
      {0,
       "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
       "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"},
      {111,
       "fa9121c7b32b9e01733d034cfc78cbf67f926c7ed83e82200ef8681819692176"
       "0b4beff48404df811b953828274461673c68d04e297b0eb7b2b4d60fc6b566a2"},
      {112,
       "c01d080efd492776a1c43bd23dd99d0a2e626d481e16782e75d54c2503b5dc32"
       "bd05f0f1ba33e568b88fd2d970929b719ecbb152f58f130a407c8830604b70ca"},
      {127,
       "828613968b501dc00a97e08c73b118aa8876c26b8aac93df128502ab360f91ba"
       "b50a51e088769a5c1eff4782ace147dce3642554199876374291f5d921629502"},
      {128,
       "b73d1929aa615934e61a871596b3f3b33359f42b8175602e89f7e06e5f658a24"
       "3667807ed300314b95cacdd579f3e33abdfbe351909519a846d465c59582f321"},
      {239,
       "52c853cb8d907f3d4d6b889beb027985d7c273486d75f8baf26f80d24e90c74c"
       "6c3de3e22131582380a7d14d43f2941a31385439cd6ddc469f628015e50bf286"},
      {240,
       "4c296d90c61052a62ffb1dd196f1b7b09373b1f93e71836baebf89690546b759"
       "5684dbe9467a8e484fa0d1094272b4344a7c24f5fee8daedeb0bf549c985ab5f"},
  };
  for (const auto& [size, expected] : cases) {
    EXPECT_EQ(hex(sha512(std::string(size, 'a'))), expected) << size << " bytes";
  }
}

TEST(CryptoSha512, FinishResetsAndSplitsDoNotMatter) {
  Sha512 h;
  h.update("abc");
  EXPECT_EQ(h.finish(), sha512("abc"));
  EXPECT_EQ(h.finish(), sha512(""));
  const std::string message = pattern(300);
  const Sha512Digest expected = sha512(message);
  for (std::size_t cut = 0; cut <= message.size(); ++cut) {
    h.update(std::string_view(message).substr(0, cut));
    h.update("");
    h.update(std::string_view(message).substr(cut));
    EXPECT_EQ(h.finish(), expected) << "cut at " << cut;
  }
}

// ---------------------------------------------------------------------------------------------
// HMAC-SHA1 (RFC 2202 section 3, all seven test cases)

struct HmacCase {
  std::string key;
  std::string data;
  std::string_view expected;  // hex; may be shorter than the MAC (truncated output)
};

std::vector<HmacCase> rfc2202_cases() {
  return {
      {std::string(20, '\x0b'), "Hi There", "b617318655057264e28bc0b6fb378c8ef146be00"},
      {"Jefe", "what do ya want for nothing?", "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"},
      {std::string(20, '\xaa'), std::string(50, '\xdd'),
       "125d7342b9ac11cd91a39af48aa17b4f63f175d3"},
      {unhex("0102030405060708090a0b0c0d0e0f10111213141516171819"), std::string(50, '\xcd'),
       "4c9007f4026250c6bc8414f9bf50c86c2d7235da"},
      {std::string(20, '\x0c'), "Test With Truncation", "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04"},
      {std::string(80, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First",
       "aa4ae5e15272d00e95705637ce8a3b55ed402112"},
      {std::string(80, '\xaa'),
       "Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data",
       "e8e99d0f45237d786d6bbaa7965c7808bbff1a91"},
  };
}

TEST(CryptoHmacSha1, Rfc2202AllCases) {
  const auto cases = rfc2202_cases();
  ASSERT_EQ(cases.size(), 7u);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE("RFC 2202 test case " + std::to_string(i + 1));
    const auto& c = cases[i];
    EXPECT_EQ(hex(hmac_sha1(c.key, c.data)), c.expected);
    HmacSha1 h(c.key);
    for (const char ch : c.data) h.update(std::string_view(&ch, 1));
    EXPECT_EQ(hex(h.finish()), c.expected);
  }
}

TEST(CryptoHmacSha1, Rfc2202Case5Truncated96) {
  const Sha1Digest mac = hmac_sha1(std::string(20, '\x0c'), "Test With Truncation");
  EXPECT_EQ(hex(std::span(mac).first(12)), "4c1a03424b55e07fe7f27be1");
}

// ---------------------------------------------------------------------------------------------
// HMAC-SHA256 (RFC 4231 section 4, test cases 1-7)

std::vector<HmacCase> rfc4231_cases() {
  return {
      {std::string(20, '\x0b'), "Hi There",
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {"Jefe", "what do ya want for nothing?",
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {std::string(20, '\xaa'), std::string(50, '\xdd'),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {unhex("0102030405060708090a0b0c0d0e0f10111213141516171819"), std::string(50, '\xcd'),
       "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
      // Test case 5 publishes only the first 128 bits of the output.
      {std::string(20, '\x0c'), "Test With Truncation", "a3b6167473100ee06e0c796c2955552b"},
      {std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First",
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
      {std::string(131, '\xaa'),
       "This is a test using a larger than block-size key and a larger than block-size data. The "
       "key needs to be hashed before being used by the HMAC algorithm.",
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
  };
}

TEST(CryptoHmacSha256, Rfc4231Cases1To7) {
  const auto cases = rfc4231_cases();
  ASSERT_EQ(cases.size(), 7u);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE("RFC 4231 test case " + std::to_string(i + 1));
    const auto& c = cases[i];
    const std::size_t bytes = c.expected.size() / 2;
    const Sha256Digest mac = hmac_sha256(c.key, c.data);
    EXPECT_EQ(hex(std::span(mac).first(bytes)), c.expected);
    HmacSha256 h(c.key);
    for (const char ch : c.data) h.update(std::string_view(&ch, 1));
    const Sha256Digest incremental = h.finish();
    EXPECT_EQ(hex(std::span(incremental).first(bytes)), c.expected);
  }
}

TEST(CryptoHmacSha256, Rfc4231Case5Truncated128) {
  const Sha256Digest mac = hmac_sha256(std::string(20, '\x0c'), "Test With Truncation");
  EXPECT_EQ(hex(std::span(mac).first(16)), "a3b6167473100ee06e0c796c2955552b");
}

TEST(CryptoHmac, FinishRestartsWithTheSameKey) {
  HmacSha256 h("Jefe");
  h.update("what do ya want ");
  h.update("for nothing?");
  const std::string expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
  EXPECT_EQ(hex(h.finish()), expected);
  h.update("what do ya want for nothing?");
  EXPECT_EQ(hex(h.finish()), expected);

  HmacSha1 h1("Jefe");
  h1.update("what do ya want for nothing?");
  EXPECT_EQ(hex(h1.finish()), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
  h1.update("what do ya want for nothing?");
  EXPECT_EQ(hex(h1.finish()), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
}

TEST(CryptoHmac, KeyOfExactlyOneBlockIsNotHashed) {
  // A 64-byte key is used as is, a 65-byte key is hashed: the two must differ from each other and
  // the hashed one must equal HMAC with the digest as key.
  const std::string key64(64, 'k');
  const std::string key65(65, 'k');
  EXPECT_NE(hmac_sha256(key64, "m"), hmac_sha256(key65, "m"));
  EXPECT_EQ(hmac_sha256(key65, "m"), hmac_sha256(char_view(sha256(key65)), "m"));
  EXPECT_EQ(hmac_sha1(key65, "m"), hmac_sha1(char_view(sha1(key65)), "m"));
}

// ---------------------------------------------------------------------------------------------
// Incremental updates

class CryptoIncremental : public ::testing::TestWithParam<std::size_t> {};

TEST_P(CryptoIncremental, PiecesGiveTheSameDigestAsOneCall) {
  const std::size_t piece = GetParam();
  const std::string key = "webhook-secret";
  for (const std::size_t size : {0u, 1u, 63u, 64u, 65u, 127u, 128u, 129u, 1000u}) {
    SCOPED_TRACE("message size " + std::to_string(size));
    const std::string message = pattern(size);
    Sha1 s1;
    Sha256 s256;
    HmacSha1 h1(key);
    HmacSha256 h256(key);
    for (std::size_t at = 0; at < message.size(); at += piece) {
      const std::string_view part = std::string_view(message).substr(at, piece);
      s1.update(part);
      s256.update(part);
      h1.update(part);
      h256.update(part);
    }
    EXPECT_EQ(s1.finish(), sha1(message));
    EXPECT_EQ(s256.finish(), sha256(message));
    EXPECT_EQ(h1.finish(), hmac_sha1(key, message));
    EXPECT_EQ(h256.finish(), hmac_sha256(key, message));
  }
}

INSTANTIATE_TEST_SUITE_P(PieceSizes, CryptoIncremental,
                         ::testing::Values(1u, 3u, 63u, 64u, 65u, 200u));

TEST(CryptoIncrementalSplits, EveryTwoPieceSplitAndEmptyUpdates) {
  const std::string message = pattern(200);
  const Sha256Digest expected = sha256(message);
  const Sha1Digest expected1 = sha1(message);
  for (std::size_t cut = 0; cut <= message.size(); ++cut) {
    Sha256 h;
    Sha1 h1;
    h.update(std::string_view(message).substr(0, cut));
    h.update("");
    h.update(std::string_view(message).substr(cut));
    h1.update(std::string_view(message).substr(0, cut));
    h1.update(std::string_view(message).substr(cut));
    EXPECT_EQ(h.finish(), expected) << "cut at " << cut;
    EXPECT_EQ(h1.finish(), expected1) << "cut at " << cut;
  }
}

TEST(CryptoIncrementalSplits, Fips180VectorsInPieces) {
  for (const std::size_t piece : {1u, 63u, 64u, 65u}) {
    Sha256 h;
    Sha1 h1;
    const std::string message(1000000, 'a');
    for (std::size_t at = 0; at < message.size(); at += piece) {
      h.update(std::string_view(message).substr(at, piece));
      h1.update(std::string_view(message).substr(at, piece));
    }
    EXPECT_EQ(hex(h.finish()), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    EXPECT_EQ(hex(h1.finish()), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
  }
}

// ---------------------------------------------------------------------------------------------
// Base64 (RFC 4648)

TEST(CryptoBase64, Rfc4648Section10Vectors) {
  const std::array<std::pair<std::string_view, std::string_view>, 7> vectors = {{
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  }};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base64_encode(byte_view(plain)), encoded);
    EXPECT_EQ(base64_decode(encoded), std::optional<std::string>(plain)) << encoded;
  }
}

TEST(CryptoBase64, PaddingIsOptional) {
  EXPECT_EQ(base64_decode("Zg"), std::optional<std::string>("f"));
  EXPECT_EQ(base64_decode("Zm8"), std::optional<std::string>("fo"));
  EXPECT_EQ(base64_decode("Zm9vYg"), std::optional<std::string>("foob"));
  EXPECT_EQ(base64_decode("Zm9vYmE"), std::optional<std::string>("fooba"));
}

TEST(CryptoBase64, UrlSafeAlphabet) {
  EXPECT_EQ(base64_encode(byte_view("\xfb\xff\xbf")), "+/+/");
  EXPECT_EQ(base64_decode("+/+/"), std::optional<std::string>("\xfb\xff\xbf"));
  EXPECT_EQ(base64_decode("-_-_"), std::optional<std::string>("\xfb\xff\xbf"));
  EXPECT_EQ(base64_decode("-_8"), std::optional<std::string>("\xfb\xff"));
  EXPECT_EQ(base64_decode("-_8="), std::optional<std::string>("\xfb\xff"));
  EXPECT_EQ(base64_decode("_w"), std::optional<std::string>("\xff"));
  EXPECT_EQ(base64_decode("_w=="), std::optional<std::string>("\xff"));
}

TEST(CryptoBase64, AllByteValues) {
  std::string all(256, '\0');
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<char>(i);
  const std::string encoded = base64_encode(byte_view(all));
  EXPECT_EQ(
      encoded,
      "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0BB"
      "QkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn+AgYKD"
      "hIWGh4iJiouMjY6PkJGSk5SVlpeYmZqbnJ2en6ChoqOkpaanqKmqq6ytrq+wsbKztLW2t7i5uru8vb6/wMHCw8TF"
      "xsfIycrLzM3Oz9DR0tPU1dbX2Nna29zd3t/g4eLj5OXm5+jp6uvs7e7v8PHy8/T19vf4+fr7/P3+/w==");
  EXPECT_EQ(base64_decode(encoded), std::optional<std::string>(all));
}

TEST(CryptoBase64, RoundTripsEveryLength) {
  for (std::size_t size = 0; size <= 300; ++size) {
    const std::string bytes = pattern(size);
    const std::string encoded = base64_encode(byte_view(bytes));
    EXPECT_EQ(encoded.size() % 4, 0u);
    EXPECT_EQ(base64_decode(encoded), std::optional<std::string>(bytes)) << size;
    // The same text without its padding decodes too.
    std::string_view unpadded = encoded;
    while (!unpadded.empty() && unpadded.back() == '=') unpadded.remove_suffix(1);
    EXPECT_EQ(base64_decode(unpadded), std::optional<std::string>(bytes)) << size;
  }
}

TEST(CryptoBase64, RejectsInvalidInput) {
  const std::string_view bad[] = {
      "Z",                           // one character left over
      "Zm9vY",                       // five characters
      "Zm9vY===",                    // three '='
      "Zg=",                         // partial padding
      "Zm9v=",                       // padding after a complete group
      "=",                           // padding alone
      "==",                          //
      "====",                        //
      "Zm9v====",                    // a whole group of padding
      "Zg==Zg==",                    // padding in the middle
      "Z=g=",                        //
      "Zm 9v",                       // whitespace
      "Zm9v\n",                      //
      " Zm9v",                       //
      "Zm9v!",                       // not in either alphabet
      "Zm9.",                        //
      "Zm\x80v",                     // non-ASCII
      std::string_view("Zm\0v", 4),  // NUL
      "+/-_",                        // mixes the standard and URL-safe alphabets
      "Zh==",                        // non-zero unused bits ("Zg==" is the only encoding of "f")
      "Zh",                          //
      "Zm9=",                        // non-zero unused bits ("Zm8=" is the only encoding of "fo")
  };
  for (const std::string_view text : bad) {
    EXPECT_EQ(base64_decode(text), std::nullopt) << '"' << text << '"';
  }
}

// ---------------------------------------------------------------------------------------------
// Hex

TEST(CryptoHex, EncodesLowerCase) {
  const std::array<std::uint8_t, 6> bytes = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
  EXPECT_EQ(hex_encode(bytes), "00017f80abff");
  EXPECT_EQ(hex_encode({}), "");
}

TEST(CryptoHex, DecodesEitherCase) {
  EXPECT_EQ(hex_decode("00017f80abff"),
            std::optional<std::string>(std::string("\0\x01\x7f\x80\xab\xff", 6)));
  EXPECT_EQ(hex_decode("00017F80ABFF"),
            std::optional<std::string>(std::string("\0\x01\x7f\x80\xab\xff", 6)));
  EXPECT_EQ(hex_decode("aBcD"), std::optional<std::string>("\xab\xcd"));
  EXPECT_EQ(hex_decode(""), std::optional<std::string>(""));
}

TEST(CryptoHex, RoundTripsAllByteValues) {
  std::string all(256, '\0');
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<char>(i);
  const std::string encoded = hex_encode(byte_view(all));
  EXPECT_EQ(encoded.size(), 512u);
  EXPECT_EQ(encoded.substr(0, 8), "00010203");
  EXPECT_EQ(encoded.substr(504), "fcfdfeff");
  EXPECT_EQ(hex_decode(encoded), std::optional<std::string>(all));
}

TEST(CryptoHex, RejectsInvalidInput) {
  const std::string_view bad[] = {"0",
                                  "abc",
                                  "0g",
                                  "g0",
                                  "zz",
                                  " 00",
                                  "00 ",
                                  "0x00",
                                  "-1",
                                  "\xff\xff",
                                  std::string_view("0\0", 2)};
  for (const std::string_view text : bad) {
    EXPECT_EQ(hex_decode(text), std::nullopt) << '"' << text << '"';
  }
}

// ---------------------------------------------------------------------------------------------
// Constant-time comparison

TEST(CryptoConstantTimeEqual, EqualInputs) {
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_TRUE(constant_time_equal("a", "a"));
  EXPECT_TRUE(constant_time_equal("signature", "signature"));
  EXPECT_TRUE(constant_time_equal(std::string_view("a\0b", 3), std::string_view("a\0b", 3)));
  const Sha256Digest d = sha256("abc");
  EXPECT_TRUE(constant_time_equal(char_view(d), char_view(sha256("abc"))));
}

TEST(CryptoConstantTimeEqual, UnequalInputs) {
  EXPECT_FALSE(constant_time_equal("signature", "Signature"));  // first byte
  EXPECT_FALSE(constant_time_equal("signature", "signaturE"));  // last byte
  EXPECT_FALSE(constant_time_equal("signature", "sigXature"));  // middle
  EXPECT_FALSE(constant_time_equal("sig", "signature"));        // prefix, shorter
  EXPECT_FALSE(constant_time_equal("signature", "sig"));
  EXPECT_FALSE(constant_time_equal("", "a"));
  EXPECT_FALSE(constant_time_equal(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
  EXPECT_FALSE(constant_time_equal("\x80", std::string_view("\0", 1)));  // high bit only
  EXPECT_FALSE(constant_time_equal(char_view(sha256("abc")), char_view(sha256("abd"))));
}

// ---------------------------------------------------------------------------------------------
// Putting it together the way a webhook verifier will

TEST(CryptoSignature, Base64HmacSha1Signature) {
  const std::string_view header = "7/zfauXrL6LSdBbV8YTfnCWafHk=";  // base64 of RFC 2202 case 2
  HmacSha1 mac("Jefe");
  mac.update("what do ya want ");
  mac.update("for nothing?");
  const Sha1Digest digest = mac.finish();
  EXPECT_EQ(base64_encode(digest), header);
  const std::optional<std::string> decoded = base64_decode(header);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_TRUE(constant_time_equal(*decoded, char_view(digest)));
  EXPECT_FALSE(constant_time_equal(*decoded, char_view(hmac_sha1("Jefe", "tampered"))));
}

TEST(CryptoSignature, HexAndBase64HmacSha256Signature) {
  const Sha256Digest digest = hmac_sha256("Jefe", "what do ya want for nothing?");
  const std::optional<std::string> from_hex =
      hex_decode("5BDCC146BF60754E6A042426089575C75A003F089D2739839DEC58B964EC3843");
  ASSERT_TRUE(from_hex.has_value());
  EXPECT_TRUE(constant_time_equal(*from_hex, char_view(digest)));
  const std::optional<std::string> from_base64 =
      base64_decode("W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
  ASSERT_TRUE(from_base64.has_value());
  EXPECT_TRUE(constant_time_equal(*from_base64, char_view(digest)));
}

// ---------------------------------------------------------------------------------------------
// Ed25519 verification (RFC 8032 section 7.1)

struct Ed25519Case {
  std::string_view name;
  std::string_view public_key;  // hex
  std::string_view message;     // hex
  std::string_view signature;   // hex
};

// Every test of section 7.1: TEST 1 (empty message), TEST 2, TEST 3, TEST 1024 (1023 bytes) and
// TEST SHA(abc) (the 64-byte SHA-512 of "abc").
std::vector<Ed25519Case> rfc8032_cases() {
  return {
      {"TEST 1", "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
       "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
       "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
      {"TEST 2", "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
       "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
       "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
      {"TEST 3", "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
       "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
       "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"},
      {"TEST 1024", "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
       "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98"
       "fa6e264bf09efe12ee50f8f54e9f77b1e355f6c50544e23fb1433ddf73be84d8"
       "79de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d"
       "658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc"
       "1a858efcb8550ee3a5e1998bd177e93a7363c344fe6b199ee5d02e82d522c4fe"
       "ba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e"
       "06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbef"
       "efd75499da96bd68a8a97b928a8bbc103b6621fcde2beca1231d206be6cd9ec7"
       "aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1"
       "85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2"
       "d17ba70eb6248e594e1a2297acbbb39d502f1a8c6eb6f1ce22b3de1a1f40cc24"
       "554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270"
       "88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc"
       "2732e69485bbc9c90bfbd62481d9089beccf80cfe2df16a2cf65bd92dd597b07"
       "07e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba"
       "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51a"
       "ddd3b75a2b1ae0784504df543af8969be3ea7082ff7fc9888c144da2af58429e"
       "c96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7"
       "51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c"
       "42f58c30c04aafdb038dda0847dd988dcda6f3bfd15c4b4c4525004aa06eeff8"
       "ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df"
       "f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08"
       "d78ff4ef5d63653a65040cf9bfd4aca7984a74d37145986780fc0b16ac451649"
       "de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4"
       "88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a3"
       "2ef5b52a1ecc820e308aa342721aac0943bf6686b64b2579376504ccc493d97e"
       "6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f"
       "b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b5"
       "0d334ba77c225bc307ba537152f3f1610e4eafe595f6d9d90d11faa933a15ef1"
       "369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d"
       "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c"
       "0618983f8741c5ef68d3a101e8a3b8cac60c905c15fc910840b94c00a0b9d0",
       "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350"
       "aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03"},
      {"SHA(abc)", "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
       "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
       "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
       "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b589"
       "09351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704"},
  };
}

bool verify_hex(std::string_view public_key, std::string_view message, std::string_view signature) {
  return ed25519_verify(unhex(public_key), unhex(signature), unhex(message));
}

std::string flip_bit(std::string bytes, std::size_t bit) {
  bytes[bit / 8] = static_cast<char>(bytes[bit / 8] ^ (1 << (bit % 8)));
  return bytes;
}

TEST(CryptoEd25519, Rfc8032Section71Vectors) {
  for (const Ed25519Case& c : rfc8032_cases()) {
    EXPECT_TRUE(verify_hex(c.public_key, c.message, c.signature)) << c.name;
  }
  const std::vector<Ed25519Case> cases = rfc8032_cases();
  ASSERT_EQ(unhex(cases[3].message).size(), 1023u);
  EXPECT_EQ(unhex(cases[4].message), std::string(char_view(sha512("abc"))));
}

TEST(CryptoEd25519, MessageInPartsIsTheirConcatenation) {
  const Ed25519Case c = rfc8032_cases()[3];
  const std::string message = unhex(c.message);
  const std::string key = unhex(c.public_key);
  const std::string signature = unhex(c.signature);
  for (const std::size_t cut : {0u, 1u, 500u, 1023u}) {
    const std::string_view view(message);
    const std::array<std::string_view, 3> parts = {view.substr(0, cut), std::string_view(),
                                                   view.substr(cut)};
    EXPECT_TRUE(ed25519_verify(key, signature, parts)) << "cut at " << cut;
  }
  const std::array<std::string_view, 2> wrong = {std::string_view(message).substr(0, 1000),
                                                 std::string_view(message).substr(1001)};
  EXPECT_FALSE(ed25519_verify(key, signature, wrong));
}

TEST(CryptoEd25519, AnyFlippedBitIsRefused) {
  const std::vector<Ed25519Case> cases = rfc8032_cases();
  for (std::size_t index = 0; index < cases.size(); ++index) {
    const Ed25519Case& c = cases[index];
    const std::string key = unhex(c.public_key);
    const std::string message = unhex(c.message);
    const std::string signature = unhex(c.signature);
    for (std::size_t bit = 0; bit < message.size() * 8; bit += 37) {
      EXPECT_FALSE(ed25519_verify(key, signature, flip_bit(message, bit))) << c.name << " m" << bit;
    }
    EXPECT_FALSE(ed25519_verify(key, signature, message + '\0')) << c.name;
    // Every bit of R and S, and of the key, is flipped in one case or another (strides of 5
    // starting at the case's index); all of them for the sanitizer builds would be slow.
    for (std::size_t bit = index; bit < 512; bit += 5) {
      EXPECT_FALSE(ed25519_verify(key, flip_bit(signature, bit), message)) << c.name << " s" << bit;
    }
    for (std::size_t bit = index; bit < 256; bit += 5) {
      EXPECT_FALSE(ed25519_verify(flip_bit(key, bit), signature, message)) << c.name << " k" << bit;
    }
  }
}

TEST(CryptoEd25519, WrongSizesAreRefused) {
  const Ed25519Case c = rfc8032_cases()[1];
  const std::string key = unhex(c.public_key);
  const std::string message = unhex(c.message);
  const std::string signature = unhex(c.signature);
  EXPECT_FALSE(ed25519_verify(key.substr(0, 31), signature, message));
  EXPECT_FALSE(ed25519_verify(key + '\0', signature, message));
  EXPECT_FALSE(ed25519_verify(key, signature.substr(0, 63), message));
  EXPECT_FALSE(ed25519_verify(key, signature + '\0', message));
  EXPECT_FALSE(ed25519_verify("", "", ""));
}

// S and S + L give the same point [S]B, so accepting S >= L would make every signature
// malleable: RFC 8032 section 5.1.7 step 1 refuses it.
TEST(CryptoEd25519, ScalarNotBelowTheOrderIsRefused) {
  const Ed25519Case c = rfc8032_cases()[0];  // TEST 1: S + L still fits in 256 bits
  const std::string_view r = c.signature.substr(0, 64);
  const std::string s_plus_l = "4c8c7872aa064e049dbb3013fbf29380d25bf5f0595bbe24655141438e7a101b";
  EXPECT_FALSE(verify_hex(c.public_key, c.message, std::string(r) + s_plus_l));
  const std::string order = "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";
  EXPECT_FALSE(verify_hex(c.public_key, c.message, std::string(r) + order));
  EXPECT_FALSE(verify_hex(c.public_key, c.message, std::string(r) + std::string(64, 'f')));
}

// The identity point (x = 0, y = 1) as a public key with R = identity and S = 0 satisfies
// [S]B = R + [k]A for every message. With the canonical encodings it verifies (RFC 8032 does not
// refuse small-order keys); the same point spelled non-canonically (y = p + 1, or x = 0 with the
// sign bit set) must not decode, as section 5.1.3 requires.
TEST(CryptoEd25519, NonCanonicalPointsAreRefused) {
  const std::string identity = "0100000000000000000000000000000000000000000000000000000000000000";
  const std::string y_is_p_plus_1 =
      "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f";
  const std::string negative_zero_x =
      "0100000000000000000000000000000000000000000000000000000000000080";
  const std::string zero_s(64, '0');
  EXPECT_TRUE(verify_hex(identity, "616263", identity + zero_s));
  EXPECT_FALSE(verify_hex(y_is_p_plus_1, "616263", identity + zero_s));
  EXPECT_FALSE(verify_hex(identity, "616263", y_is_p_plus_1 + zero_s));
  EXPECT_FALSE(verify_hex(negative_zero_x, "616263", identity + zero_s));
  EXPECT_FALSE(verify_hex(identity, "616263", negative_zero_x + zero_s));
  // y = p (zero, non-canonically) and y = 2^255 - 1: not below p.
  EXPECT_FALSE(verify_hex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
                          "616263", identity + zero_s));
  EXPECT_FALSE(verify_hex("ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
                          "616263", identity + zero_s));
}

TEST(CryptoEd25519, PointOffTheCurveIsRefused) {
  // y = 2: (y^2 - 1) / (d y^2 + 1) is not a square mod p, so no x exists.
  const std::string y_is_2 = "0200000000000000000000000000000000000000000000000000000000000000";
  const Ed25519Case c = rfc8032_cases()[1];
  EXPECT_FALSE(verify_hex(y_is_2, c.message, c.signature));
  EXPECT_FALSE(verify_hex(c.public_key, c.message, y_is_2 + std::string(c.signature.substr(64))));
}

}  // namespace
}  // namespace callhook::crypto
