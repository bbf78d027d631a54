// memcpy and memcmp for the package's wasm, in place of Emscripten 3.1.6's libc ones. Those move
// and compare unaligned data a byte at a time (their word loops need both pointers aligned alike),
// and the core's strings, field names and values are unaligned: the canonical event's JSON is
// appended piece by piece, and the spec table is searched by comparing names. Wasm loads and
// stores of any alignment are as fast as aligned ones on the engines the package runs on, so
// these go eight bytes at a time whatever the alignment. libc's memcpy is a weak symbol and its
// memcmp comes from an archive member that is then not linked, so these take their place.
//
// Built with -fno-builtin (CMakeLists.txt), so that the compiler does not turn these loops back
// into calls to memcpy and memcmp.
#include <cstddef>
#include <cstdint>

namespace {

template <class Word>
Word load(const unsigned char* p) {
  Word v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}

template <class Word>
void store(unsigned char* p, Word v) {
  __builtin_memcpy(p, &v, sizeof v);
}

}  // namespace

// Copies of 512 bytes or more go where libc's go: to the JavaScript engine's own copy
// (HEAPU8.copyWithin), faster for long runs than any wasm loop. It returns nothing.
extern "C" void emscripten_memcpy_big(void* dest, const void* src, std::size_t n);

extern "C" void* memcpy(void* dest, const void* src, std::size_t n) {
  auto* d = static_cast<unsigned char*>(dest);
  const auto* s = static_cast<const unsigned char*>(src);
  if (n >= 512) {
    emscripten_memcpy_big(dest, src, n);
    return dest;
  }
  if (n >= 8) {
    // Whole words, then one last word ending at the last byte (overlapping the one before).
    const std::uint64_t last = load<std::uint64_t>(s + n - 8);
    for (std::size_t i = 0; i + 8 <= n; i += 8)
      store<std::uint64_t>(d + i, load<std::uint64_t>(s + i));
    store<std::uint64_t>(d + n - 8, last);
    return dest;
  }
  if (n >= 4) {
    const std::uint32_t first = load<std::uint32_t>(s);
    const std::uint32_t last = load<std::uint32_t>(s + n - 4);
    store<std::uint32_t>(d, first);
    store<std::uint32_t>(d + n - 4, last);
    return dest;
  }
  for (std::size_t i = 0; i < n; ++i) d[i] = s[i];
  return dest;
}

extern "C" int memcmp(const void* left, const void* right, std::size_t n) {
  const auto* l = static_cast<const unsigned char*>(left);
  const auto* r = static_cast<const unsigned char*>(right);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const std::uint64_t a = load<std::uint64_t>(l + i);
    const std::uint64_t b = load<std::uint64_t>(r + i);
    if (a != b) {
      // Little-endian: the first differing byte is the lowest differing one.
      const int shift = __builtin_ctzll(a ^ b) & ~7;
      return static_cast<int>((a >> shift) & 0xFF) - static_cast<int>((b >> shift) & 0xFF);
    }
  }
  for (; i < n; ++i) {
    if (l[i] != r[i]) return l[i] - r[i];
  }
  return 0;
}
