#include "utf8.h"

#include <cstdint>

#include "swar.h"

namespace callhook::detail {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// One step of the Encoding Standard's UTF-8 decoder. Returns how many bytes starting at `i` form
// a valid sequence, or 0 when the sequence is ill-formed; `consumed` is then the length of the
// maximal subpart to replace with one U+FFFD (at least 1).
std::size_t valid_sequence_length(std::string_view s, std::size_t i, std::size_t& consumed) {
  const auto b0 = static_cast<std::uint8_t>(s[i]);
  std::size_t needed = 0;
  std::uint8_t lower = 0x80;
  std::uint8_t upper = 0xBF;
  if (b0 < 0x80) {
    consumed = 1;
    return 1;
  }
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    needed = 1;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    needed = 2;
    if (b0 == 0xE0) lower = 0xA0;
    if (b0 == 0xED) upper = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    needed = 3;
    if (b0 == 0xF0) lower = 0x90;
    if (b0 == 0xF4) upper = 0x8F;
  } else {
    consumed = 1;
    return 0;
  }
  std::size_t seen = 0;
  while (seen < needed) {
    const std::size_t j = i + 1 + seen;
    if (j >= s.size()) {  // truncated at the end of input
      consumed = 1 + seen;
      return 0;
    }
    const auto b = static_cast<std::uint8_t>(s[j]);
    if (b < lower || b > upper) {  // the offending byte is reprocessed as a new sequence
      consumed = 1 + seen;
      return 0;
    }
    lower = 0x80;
    upper = 0xBF;
    ++seen;
  }
  consumed = needed + 1;
  return needed + 1;
}

}  // namespace

bool is_valid_utf8(std::string_view bytes) {
  const auto non_ascii = [](std::uint64_t w) { return w & kHighs; };
  std::size_t i = 0;
  while (i < bytes.size()) {
    i = skip_plain(bytes, i, non_ascii);
    if (i >= bytes.size()) break;
    if (static_cast<std::uint8_t>(bytes[i]) < 0x80) {
      ++i;
      continue;
    }
    std::size_t consumed = 0;
    if (valid_sequence_length(bytes, i, consumed) == 0) return false;
    i += consumed;
  }
  return true;
}

std::size_t utf8_sequence_length(std::string_view bytes, std::size_t i) {
  std::size_t consumed = 0;
  return valid_sequence_length(bytes, i, consumed);
}

void append_utf8_replacing(std::string& out, std::string_view bytes) {
  std::size_t i = 0;
  std::size_t run = 0;
  while (i < bytes.size()) {
    if (static_cast<std::uint8_t>(bytes[i]) < 0x80) {
      ++i;
      continue;
    }
    std::size_t consumed = 0;
    if (valid_sequence_length(bytes, i, consumed) == 0) {
      out.append(bytes.data() + run, i - run);
      out.append(kReplacement);
      i += consumed;
      run = i;
    } else {
      i += consumed;
    }
  }
  out.append(bytes.data() + run, bytes.size() - run);
}

std::string_view utf8_prefix(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  std::size_t end = max_bytes;
  while (end > 0 && (static_cast<std::uint8_t>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

}  // namespace callhook::detail
