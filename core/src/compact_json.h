// Compact JSON, fast: a reader of the JSON the core writes itself, and a writer of documents
// (internal to the core).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace callhook::detail {

/// json::parse(text, nullptr, false), for any text: the same document, or a discarded value
/// when `text` is not JSON. The JSON the core writes (write_canonical_json, dump(): no
/// whitespace, integers, strings with few escapes) is read in one pass without the lexer's
/// token buffer; anything else (whitespace, fractions, \u escapes, a text that is not JSON) is
/// handed to nlohmann's parser whole.
[[nodiscard]] nlohmann::json parse_compact_json(std::string_view text);

/// The fast reader alone: true, with the document in `out`, when it takes the whole of `text`.
[[nodiscard]] bool read_compact_json(std::string_view text, nlohmann::json& out);

/// value.dump(-1, ' ', false, json::error_handler_t::replace), byte for byte, without the
/// serializer's per-byte UTF-8 state machine on strings that are valid UTF-8.
[[nodiscard]] std::string dump_compact_json(const nlohmann::json& value);
void append_compact_json(std::string& out, const nlohmann::json& value);

}  // namespace callhook::detail
