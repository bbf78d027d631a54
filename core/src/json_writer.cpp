#include "json_writer.h"

#include <charconv>
#include <cstring>

#include "swar.h"

namespace callhook {

namespace {

std::uint64_t needs_escape(std::uint64_t w) {
  return detail::less_lanes(w, 0x20) | detail::byte_lanes(w, '"') | detail::byte_lanes(w, '\\');
}

// True when some byte of `text` needs escaping: whole words, the last one overlapping the one
// before it; a text shorter than a word byte by byte.
bool any_escape(std::string_view text) {
  const std::size_t n = text.size();
  if (n < 8) {
    for (const char c : text) {
      if (static_cast<unsigned char>(c) < 0x20 || c == '"' || c == '\\') return true;
    }
    return false;
  }
  for (std::size_t i = 0; i + 8 < n; i += 8) {
    if (needs_escape(detail::load8(text.data() + i)) != 0) return true;
  }
  return needs_escape(detail::load8(text.data() + n - 8)) != 0;
}

void append_escaped(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t run = 0;  // start of the pending run of bytes that need no escaping
  std::size_t i = 0;
  while (true) {
    i = detail::skip_plain(text, i, needs_escape);
    while (i < text.size()) {
      const auto c = static_cast<unsigned char>(text[i]);
      if (c < 0x20 || c == '"' || c == '\\') break;
      ++i;
    }
    if (i >= text.size()) break;
    const auto c = static_cast<unsigned char>(text[i]);
    out.append(text.data() + run, i - run);
    run = ++i;
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\f':
        out.append("\\f");
        break;
      default:
        out.append("\\u00");
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
    }
  }
  out.append(text.data() + run, text.size() - run);
  out.push_back('"');
}

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  if (any_escape(text)) {
    append_escaped(out, text);
    return;
  }
  // Nearly every value: the quotes and the bytes, as one append and one copy.
  const std::size_t at = out.size();
  out.append(text.size() + 2, '"');
  std::memcpy(out.data() + at + 1, text.data(), text.size());
}

void JsonWriter::separate() {
  if (need_comma_) out_.push_back(',');
  need_comma_ = true;
}

JsonWriter& JsonWriter::begin_object() {
  separate();
  out_.push_back('{');
  need_comma_ = false;
  return *this;
}

JsonWriter& JsonWriter::end_object() {
  out_.push_back('}');
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::begin_array() {
  separate();
  out_.push_back('[');
  need_comma_ = false;
  return *this;
}

JsonWriter& JsonWriter::end_array() {
  out_.push_back(']');
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::key(std::string_view name) {
  separate();
  append_json_string(out_, name);
  out_.push_back(':');
  need_comma_ = false;  // the value that follows takes no comma
  return *this;
}

JsonWriter& JsonWriter::string(std::string_view text) {
  separate();
  append_json_string(out_, text);
  return *this;
}

JsonWriter& JsonWriter::number(std::int64_t value) {
  separate();
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  (void)ec;
  out_.append(digits, end);
  return *this;
}

JsonWriter& JsonWriter::boolean(bool value) {
  separate();
  out_.append(value ? "true" : "false");
  return *this;
}

JsonWriter& JsonWriter::null() {
  separate();
  out_.append("null");
  return *this;
}

JsonWriter& JsonWriter::raw(std::string_view json) {
  separate();
  out_.append(json);
  return *this;
}

}  // namespace callhook
