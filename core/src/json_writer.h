// A small append-only JSON writer: one pass, one output buffer, no DOM.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace callhook {

/// Appends `text` to `out` as a JSON string literal (quotes included). Control characters are
/// escaped; bytes are otherwise copied, so the input must already be valid UTF-8.
void append_json_string(std::string& out, std::string_view text);

/// Writes JSON with commas placed automatically. Callers must nest begin/end calls properly.
class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view name);
  JsonWriter& string(std::string_view text);
  JsonWriter& number(std::int64_t value);
  JsonWriter& boolean(bool value);
  JsonWriter& null();
  /// Inserts already-serialised JSON as one value.
  JsonWriter& raw(std::string_view json);

 private:
  void separate();
  std::string& out_;
  bool need_comma_ = false;
};

}  // namespace callhook
