// Compact JSON, fast: a reader of the JSON the core writes itself, and a writer of documents
// (internal to the core).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

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

/// A string as dump() writes it, appended: escaped as append_json_string escapes it when it is
/// valid UTF-8, with dump()'s replacement of what is not otherwise.
void append_json_text(std::string& out, std::string_view text);

/// An object's members gathered in any order and written as nlohmann's object (a std::map)
/// dumps them: in key order, a key set twice with its last value. Keys are not copied: each
/// must outlive the writer (literals, the config's own strings).
class SortedObject {
 public:
  /// Starts the member `key`: its value is what is appended to the returned text next.
  std::string& add(std::string_view key);
  void add_json(std::string_view key, const nlohmann::json& value);
  void add_string(std::string_view key, std::string_view value);
  [[nodiscard]] bool empty() const { return members_.empty(); }
  void write(std::string& out) const;

 private:
  struct Member {
    std::string_view key;
    std::size_t begin;
  };
  std::vector<Member> members_;
  std::string values_;
};

}  // namespace callhook::detail
