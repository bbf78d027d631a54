#include "compact_json.h"

#include <charconv>
#include <cstdint>
#include <string>

#include "json_writer.h"
#include "swar.h"
#include "utf8.h"

namespace callhook::detail {

namespace {

using nlohmann::json;

// How deep the fast reader goes before leaving a document to nlohmann's parser.
constexpr int kMaxDepth = 128;

class CompactReader {
 public:
  explicit CompactReader(std::string_view s) : s_(s) {}

  // The document, when the whole text is compact JSON this reader takes; false otherwise.
  bool document(json& out) { return value(out, 0) && i_ == s_.size(); }

 private:
  bool value(json& out, int depth) {
    if (i_ >= s_.size()) return false;
    switch (s_[i_]) {
      case '"': {
        std::string text;
        if (!string(text)) return false;
        out = std::move(text);
        return true;
      }
      case '{':
        return object(out, depth);
      case '[':
        return array(out, depth);
      case 't':
        return literal("true", json(true), out);
      case 'f':
        return literal("false", json(false), out);
      case 'n':
        return literal("null", json(nullptr), out);
      default:
        return integer(out);
    }
  }

  bool literal(std::string_view word, json value, json& out) {
    if (s_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    out = std::move(value);
    return true;
  }

  // Integers of at most 18 digits, typed as the lexer types them (unsigned unless negative).
  bool integer(json& out) {
    const bool negative = s_[i_] == '-';
    std::size_t k = negative ? i_ + 1 : i_;
    const std::size_t digits = k;
    std::uint64_t value = 0;
    while (k < s_.size() && s_[k] >= '0' && s_[k] <= '9') {
      value = value * 10 + static_cast<std::uint64_t>(s_[k] - '0');
      ++k;
    }
    const std::size_t count = k - digits;
    if (count == 0 || count > 18 || (s_[digits] == '0' && count > 1)) return false;
    if (k < s_.size() && (s_[k] == '.' || s_[k] == 'e' || s_[k] == 'E')) return false;
    i_ = k;
    if (negative) {
      out = -static_cast<std::int64_t>(value);
    } else {
      out = value;
    }
    return true;
  }

  bool string(std::string& out) {
    ++i_;  // the opening quote
    for (;;) {
      const std::size_t from = i_;
      i_ = skip_plain(s_, i_, [](std::uint64_t v) {
        return less_lanes(v, 0x20) | byte_lanes(v, '"') | byte_lanes(v, '\\') | (v & kHighs);
      });
      while (i_ < s_.size()) {
        const auto c = static_cast<unsigned char>(s_[i_]);
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
        ++i_;
      }
      out.append(s_.data() + from, i_ - from);
      if (i_ >= s_.size()) return false;
      const auto c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') {
        ++i_;
        return true;
      }
      if (c < 0x20) return false;  // not JSON: the parser says so
      if (c >= 0x80) {
        const std::size_t n = utf8_sequence_length(s_, i_);
        if (n == 0) return false;
        out.append(s_.data() + i_, n);
        i_ += n;
        continue;
      }
      if (i_ + 1 >= s_.size()) return false;
      switch (s_[i_ + 1]) {
        case '"':
          out.push_back('"');
          break;
        case '\\':
          out.push_back('\\');
          break;
        case '/':
          out.push_back('/');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        default:
          return false;  // \u and anything else: the parser's
      }
      i_ += 2;
    }
  }

  bool object(json& out, int depth) {
    if (depth >= kMaxDepth) return false;
    out = json::object();
    auto& members = out.get_ref<json::object_t&>();
    ++i_;
    if (i_ < s_.size() && s_[i_] == '}') {
      ++i_;
      return true;
    }
    for (;;) {
      std::string key;
      if (i_ >= s_.size() || s_[i_] != '"' || !string(key)) return false;
      if (i_ >= s_.size() || s_[i_] != ':') return false;
      ++i_;
      // As the parser does: a repeated key keeps the last value.
      if (!value(members[std::move(key)], depth + 1) || i_ >= s_.size()) return false;
      if (s_[i_] == '}') {
        ++i_;
        return true;
      }
      if (s_[i_] != ',') return false;
      ++i_;
    }
  }

  bool array(json& out, int depth) {
    if (depth >= kMaxDepth) return false;
    out = json::array();
    auto& items = out.get_ref<json::array_t&>();
    ++i_;
    if (i_ < s_.size() && s_[i_] == ']') {
      ++i_;
      return true;
    }
    for (;;) {
      items.emplace_back();
      if (!value(items.back(), depth + 1) || i_ >= s_.size()) return false;
      if (s_[i_] == ']') {
        ++i_;
        return true;
      }
      if (s_[i_] != ',') return false;
      ++i_;
    }
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

}  // namespace

bool read_compact_json(std::string_view text, json& out) {
  return CompactReader(text).document(out);
}

json parse_compact_json(std::string_view text) {
  json out;
  if (read_compact_json(text, out)) return out;
  return json::parse(text.begin(), text.end(), nullptr, false);
}

namespace {

// dump()'s own text of a value, for what the fast writer leaves to it.
void append_dumped(std::string& out, const json& value) {
  out += value.dump(-1, ' ', false, json::error_handler_t::replace);
}

template <typename Number>
void append_number(std::string& out, Number n) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
  out.append(digits, end);
}

// dump() escapes exactly as append_json_string does, on valid UTF-8; what is not valid is
// replaced as dump() replaces it.
void append_string(std::string& out, std::string_view s) {
  if (is_valid_utf8(s)) {
    append_json_string(out, s);
  } else {
    append_dumped(out, json(std::string(s)));
  }
}

void append_value(std::string& out, const json& value, int depth) {
  switch (value.type()) {
    case json::value_t::null:
      out.append("null");
      return;
    case json::value_t::boolean:
      out.append(value.get<bool>() ? "true" : "false");
      return;
    case json::value_t::number_integer:
      append_number(out, value.get<std::int64_t>());
      return;
    case json::value_t::number_unsigned:
      append_number(out, value.get<std::uint64_t>());
      return;
    case json::value_t::string:
      append_string(out, value.get_ref<const std::string&>());
      return;
    case json::value_t::object:
      if (depth < kMaxDepth) {
        out.push_back('{');
        bool first = true;
        for (const auto& [key, member] : value.get_ref<const json::object_t&>()) {
          if (!first) out.push_back(',');
          first = false;
          append_string(out, key);
          out.push_back(':');
          append_value(out, member, depth + 1);
        }
        out.push_back('}');
        return;
      }
      break;
    case json::value_t::array:
      if (depth < kMaxDepth) {
        out.push_back('[');
        bool first = true;
        for (const json& item : value.get_ref<const json::array_t&>()) {
          if (!first) out.push_back(',');
          first = false;
          append_value(out, item, depth + 1);
        }
        out.push_back(']');
        return;
      }
      break;
    default:  // floats (dump()'s shortest round trip), binary, discarded
      break;
  }
  append_dumped(out, value);
}

}  // namespace

void append_compact_json(std::string& out, const json& value) {
  append_value(out, value, 0);
}

void append_json_text(std::string& out, std::string_view text) {
  append_string(out, text);
}

std::string& SortedObject::add(std::string_view key) {
  members_.push_back({key, values_.size()});
  return values_;
}

void SortedObject::add_json(std::string_view key, const json& value) {
  append_value(add(key), value, 0);
}

void SortedObject::add_string(std::string_view key, std::string_view value) {
  append_string(add(key), value);
}

void SortedObject::write(std::string& out) const {
  // Member indexes in key order, an insertion sort (a few members; std::sort's code is larger
  // in wasm than the whole writer), stable: of equal keys the last set comes last.
  std::size_t small[32];
  std::vector<std::size_t> large;
  std::size_t* order = small;
  if (members_.size() > std::size(small)) {
    large.resize(members_.size());
    order = large.data();
  }
  for (std::size_t i = 0; i < members_.size(); ++i) {
    std::size_t j = i;
    while (j > 0 && members_[i].key < members_[order[j - 1]].key) {
      order[j] = order[j - 1];
      --j;
    }
    order[j] = i;
  }
  out.push_back('{');
  bool first = true;
  for (std::size_t k = 0; k < members_.size(); ++k) {
    const std::size_t i = order[k];
    if (k + 1 < members_.size() && members_[order[k + 1]].key == members_[i].key) continue;
    const std::size_t end = i + 1 < members_.size() ? members_[i + 1].begin : values_.size();
    if (!first) out.push_back(',');
    first = false;
    append_string(out, members_[i].key);
    out.push_back(':');
    out.append(values_, members_[i].begin, end - members_[i].begin);
  }
  out.push_back('}');
}

std::string dump_compact_json(const json& value) {
  std::string out;
  append_value(out, value, 0);
  return out;
}

}  // namespace callhook::detail
