// UTF-8 helpers shared by the decoders (internal to the core).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace callhook::detail {

/// True when `bytes` is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF).
[[nodiscard]] bool is_valid_utf8(std::string_view bytes);

/// How many bytes starting at `i` (< bytes.size()) form one well-formed UTF-8 character; 0 when
/// the sequence there is ill-formed.
[[nodiscard]] std::size_t utf8_sequence_length(std::string_view bytes, std::size_t i);

/// Appends `bytes` to `out` decoded as the Encoding Standard's UTF-8 decoder does: each maximal
/// subpart of an ill-formed sequence becomes one U+FFFD.
void append_utf8_replacing(std::string& out, std::string_view bytes);

/// The longest prefix of valid UTF-8 text `text` that is at most `max_bytes` long and does not
/// split a character.
[[nodiscard]] std::string_view utf8_prefix(std::string_view text, std::size_t max_bytes);

}  // namespace callhook::detail
