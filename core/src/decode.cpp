#include "callhook/decode.h"

#include <array>
#include <charconv>
#include <cstring>
#include <nlohmann/json.hpp>
#include <vector>

#include "field_builder.h"
#include "swar.h"
#include "text_util.h"
#include "utf8.h"

namespace callhook {
namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

// Hex digit values, -1 for every other byte.
constexpr auto kHexValue = [] {
  std::array<std::int8_t, 256> table{};
  table.fill(-1);
  for (int i = 0; i < 10; ++i) table['0' + i] = static_cast<std::int8_t>(i);
  for (int i = 0; i < 6; ++i) {
    table['a' + i] = static_cast<std::int8_t>(10 + i);
    table['A' + i] = static_cast<std::int8_t>(10 + i);
  }
  return table;
}();

int hex_digit(char c) {
  return kHexValue[static_cast<unsigned char>(c)];
}

enum class ByteClass : std::uint8_t { plain, amp, equals, plus, percent };
constexpr auto kByteClass = [] {
  std::array<ByteClass, 256> table{};
  table.fill(ByteClass::plain);
  table['&'] = ByteClass::amp;
  table['='] = ByteClass::equals;
  table['+'] = ByteClass::plus;
  table['%'] = ByteClass::percent;
  return table;
}();

std::string with_number(std::string_view prefix, std::size_t n, std::string_view suffix) {
  std::string text(prefix);
  text += std::to_string(n);
  text += suffix;
  return text;
}

Diagnostic too_many_fields(const Limits& limits) {
  return {"", "too_many_fields",
          with_number("The payload has more than ", limits.max_fields, " parameters.")};
}

Diagnostic name_too_long(const Limits& limits) {
  return {"", "name_too_long",
          with_number("A parameter name is longer than ", limits.max_name_bytes, " bytes.")};
}

Diagnostic value_too_long(std::string_view name, const Limits& limits) {
  return {std::string(detail::utf8_prefix(name, limits.max_name_bytes)), "value_too_long",
          with_number("The value is longer than ", limits.max_value_bytes, " bytes.")};
}

// Flattens a JSON object into dotted fields while nlohmann's SAX parser reads it, so no DOM is
// ever built. Returning false from a callback stops the parse; `error` then says why.
class FlatteningSax {
 public:
  using json = nlohmann::json;
  FlatteningSax(const Limits& limits, FieldList& out, bool drop_structured_arrays)
      : limits_(limits), out_(out), drop_structured_arrays_(drop_structured_arrays) {}

  std::optional<Diagnostic> error;

  bool null() { return skipping_ > 0 || scalar(""); }
  bool boolean(bool value) { return skipping_ > 0 || scalar(value ? "true" : "false"); }
  bool number_integer(json::number_integer_t value) { return skipping_ > 0 || integer_text(value); }
  bool number_unsigned(json::number_unsigned_t value) {
    return skipping_ > 0 || integer_text(value);
  }
  bool number_float(json::number_float_t /*value*/, const json::string_t& text) {
    return skipping_ > 0 || scalar(text);
  }
  bool string(json::string_t& value) { return skipping_ > 0 || scalar(value); }
  bool binary(json::binary_t& /*value*/) {
    return fail("unsupported_json", "Binary values are not supported.");
  }

  bool start_object(std::size_t /*size*/) {
    if (skipping_ > 0) return ++skipping_ > 0;
    if (stack_.empty()) {
      stack_.push_back(Frame::object);
      return true;
    }
    if (stack_.back() == Frame::array) return nested_in_array();
    prefix_lengths_.push_back(path_.size());
    path_ += key_;
    path_ += '.';
    stack_.push_back(Frame::object);
    return true;
  }
  bool key(json::string_t& name) {
    if (skipping_ == 0) key_.assign(name);
    return true;
  }
  bool end_object() {
    if (skipping_ > 0) return skipped_end();
    stack_.pop_back();
    if (!stack_.empty()) {
      path_.resize(prefix_lengths_.back());
      prefix_lengths_.pop_back();
    }
    return true;
  }
  bool start_array(std::size_t /*size*/) {
    if (skipping_ > 0) return ++skipping_ > 0;
    if (stack_.empty()) return not_object();
    if (stack_.back() == Frame::array) return nested_in_array();
    if (!begin_field()) return false;
    stack_.push_back(Frame::array);
    array_empty_ = true;
    return true;
  }
  bool end_array() {
    if (skipping_ > 0) return skipped_end();
    stack_.pop_back();
    return end_field();
  }
  bool parse_error(std::size_t position, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& /*ex*/) {
    if (!error) {
      error =
          Diagnostic{"", "invalid_json",
                     with_number("The body is not valid JSON (error near byte ", position, ").")};
    }
    return false;
  }

 private:
  enum class Frame : char { object, array };

  template <typename Int>
  bool integer_text(Int value) {
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
    (void)ec;
    return scalar(std::string_view(digits, static_cast<std::size_t>(end - digits)));
  }

  bool scalar(std::string_view text) {
    if (stack_.empty()) return not_object();
    std::string& buffer = out_.buffer();
    if (stack_.back() == Frame::array) {
      if (!array_empty_) buffer.push_back(',');
      array_empty_ = false;
      buffer.append(text);
      return value_within_limit();
    }
    if (!begin_field()) return false;
    buffer.append(text);
    return end_field();
  }

  bool begin_field() {
    if (out_.size() >= limits_.max_fields) return fail(too_many_fields(limits_));
    if (path_.size() + key_.size() > limits_.max_name_bytes) return fail(name_too_long(limits_));
    out_.begin_field();
    out_.buffer().append(path_);
    out_.buffer().append(key_);
    out_.end_name();
    return true;
  }
  bool value_within_limit() {
    if (out_.buffer().size() - out_.pending_name_end() <= limits_.max_value_bytes) return true;
    const std::string name(out_.buffer().data() + out_.pending_begin(),
                           out_.pending_name_end() - out_.pending_begin());
    return fail(value_too_long(name, limits_));
  }
  bool end_field() {
    if (!value_within_limit()) return false;
    out_.end_field();
    return true;
  }
  bool not_object() {
    return fail("json_not_object", "The JSON body must be an object of parameters.");
  }
  bool nested_in_array() {
    if (drop_structured_arrays_) {
      // The whole array is left out: the field begun for it, and everything up to its end
      // (the container opening now and the array itself are two levels to close).
      out_.abandon_field();
      skipping_ = 2;
      return true;
    }
    return fail(
        "unsupported_json",
        "Arrays may hold only strings, numbers, booleans and nulls, not objects or arrays.");
  }
  // A container closes while an array is being left out; the array's own end pops its frame.
  bool skipped_end() {
    if (--skipping_ == 0) stack_.pop_back();
    return true;
  }
  bool fail(std::string_view code, std::string_view message) {
    return fail(Diagnostic{"", std::string(code), std::string(message)});
  }
  bool fail(Diagnostic diagnostic) {
    if (!error) error = std::move(diagnostic);
    return false;
  }

  const Limits& limits_;
  detail::FieldListBuilder out_;
  std::vector<Frame> stack_;
  std::vector<std::size_t> prefix_lengths_;
  std::string path_;  // dotted prefix of the current object, ending in '.'
  std::string key_;
  bool array_empty_ = true;
  bool drop_structured_arrays_ = false;
  int skipping_ = 0;  // > 0: inside an array being left out, this many levels deep
};

bool looks_like_json(std::string_view body) {
  for (const char c : body) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    return c == '{';
  }
  return false;
}

}  // namespace

std::string_view to_string(PayloadFormat format) {
  switch (format) {
    case PayloadFormat::query:
      return "query";
    case PayloadFormat::form:
      return "form";
    case PayloadFormat::json:
      return "json";
    case PayloadFormat::none:
      break;
  }
  return "none";
}

std::optional<Diagnostic> decode_form(std::string_view bytes, const Limits& limits,
                                      FieldList& out) {
  // One pass over the bytes, writing decoded names and values straight into the field buffer.
  // Decoding never lengthens the text, so the buffer is sized once up front; only the rare
  // field holding invalid UTF-8 is rewritten (U+FFFD can be longer than the bytes it replaces).
  detail::FieldListBuilder fields(out);
  std::string& buffer = fields.buffer();
  const std::size_t base = buffer.size();
  buffer.resize(base + bytes.size());
  std::size_t dst = base;
  const char* src = bytes.data();
  const char* const end = src + bytes.size();
  std::optional<Diagnostic> problem;
  while (src < end) {
    const char* const sequence = src;
    const std::size_t name_begin = dst;
    std::size_t name_end = std::string::npos;
    std::uint64_t name_high = 0;
    std::uint64_t high = 0;  // OR of the decoded bytes: a high bit set in a lane means non-ASCII
    char* const data = buffer.data();
    while (src < end) {
      // Plain bytes eight at a time, each word stored whole: the decoded text never runs ahead
      // of the input, so the eight bytes at `dst` are inside the buffer.
      if (end - src >= 8) {
        const std::uint64_t word = detail::load8_first_low(src);
        const std::uint64_t special = detail::byte_lanes(word, '&') |
                                      detail::byte_lanes(word, '=') |
                                      detail::byte_lanes(word, '+') | detail::byte_lanes(word, '%');
        std::memcpy(data + dst, src, 8);
        if (special == 0) {
          high |= word;
          src += 8;
          dst += 8;
          continue;
        }
        const unsigned plain = detail::first_lane(special);
        high |= word & detail::lanes_below(plain);
        src += plain;
        dst += plain;
      }
      char c = *src;
      const ByteClass kind = kByteClass[static_cast<unsigned char>(c)];
      if (kind == ByteClass::amp) break;
      ++src;
      if (kind != ByteClass::plain) {
        int hi = 0;
        int lo = 0;
        if (kind == ByteClass::equals) {
          if (name_end == std::string::npos) {
            name_end = dst;
            name_high = high;
            high = 0;
            continue;
          }
        } else if (kind == ByteClass::plus) {
          c = ' ';
        } else if (end - src >= 2 && (hi = hex_digit(src[0])) >= 0 &&
                   (lo = hex_digit(src[1])) >= 0) {  // '%' and two hex digits
          c = static_cast<char>(hi * 16 + lo);
          src += 2;
        }  // any other '%' is kept as it is
      }
      high |= static_cast<unsigned char>(c);
      data[dst++] = c;
    }
    const bool empty_sequence = src == sequence;
    if (src < end) ++src;  // the '&'
    if (empty_sequence) continue;
    if (name_end == std::string::npos) {
      name_end = dst;
      name_high = high;
      high = 0;
    }
    if (out.size() >= limits.max_fields) {
      problem = too_many_fields(limits);
      dst = name_begin;
      break;
    }
    if (((name_high | high) & detail::kHighs) != 0) {
      // Repair both parts, then make room again for the bytes still to decode.
      const std::string name(buffer, name_begin, name_end - name_begin);
      const std::string value(buffer, name_end, dst - name_end);
      buffer.resize(name_begin);
      detail::append_utf8_replacing(buffer, name);
      name_end = buffer.size();
      detail::append_utf8_replacing(buffer, value);
      dst = buffer.size();
      buffer.resize(dst + static_cast<std::size_t>(end - src));
    }
    if (name_end - name_begin > limits.max_name_bytes) {
      problem = name_too_long(limits);
      dst = name_begin;
      break;
    }
    if (dst - name_end > limits.max_value_bytes) {
      problem = value_too_long(std::string_view(buffer.data() + name_begin, name_end - name_begin),
                               limits);
      dst = name_begin;
      break;
    }
    fields.add_span(name_begin, name_end, dst);
  }
  buffer.resize(dst);
  return problem;
}

std::optional<Diagnostic> decode_json(std::string_view bytes, const Limits& limits, FieldList& out,
                                      bool drop_structured_arrays) {
  FlatteningSax sax(limits, out, drop_structured_arrays);
  const bool ok = nlohmann::json::sax_parse(bytes.begin(), bytes.end(), &sax,
                                            nlohmann::json::input_format_t::json, true, false);
  if (!ok || sax.error) {
    if (sax.error) return sax.error;
    return Diagnostic{"", "invalid_json", "The body is not valid JSON."};
  }
  return std::nullopt;
}

std::string_view query_of(std::string_view url) {
  const std::size_t hash = url.find('#');
  if (hash != std::string_view::npos) url = url.substr(0, hash);
  const std::size_t question = url.find('?');
  if (question == std::string_view::npos) return {};
  return url.substr(question + 1);
}

std::string media_type_essence(std::string_view content_type) {
  const std::size_t semicolon = content_type.find(';');
  std::string_view essence = content_type.substr(0, semicolon);
  while (!essence.empty() && (essence.front() == ' ' || essence.front() == '\t')) {
    essence.remove_prefix(1);
  }
  while (!essence.empty() && (essence.back() == ' ' || essence.back() == '\t')) {
    essence.remove_suffix(1);
  }
  std::string lower(essence);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return lower;
}

Decoded decode_payload(const PayloadSource& source, const Limits& limits, FieldList& out) {
  Decoded result;
  const bool is_get =
      detail::iequals(source.method, "GET") || detail::iequals(source.method, "HEAD");
  const std::string_view bytes = is_get ? query_of(source.url) : source.body;
  if (bytes.size() > limits.max_body_bytes) {
    result.error =
        Diagnostic{"", "body_too_large",
                   with_number("The payload is larger than ", limits.max_body_bytes, " bytes.")};
    return result;
  }
  if (is_get) {
    result.format = PayloadFormat::query;
    result.error = decode_form(bytes, limits, out);
    return result;
  }
  std::string_view body = bytes;
  if (body.starts_with(kBom)) body.remove_prefix(kBom.size());
  const std::string essence =
      source.content_type ? media_type_essence(*source.content_type) : std::string();
  if (essence.empty()) {
    result.format = looks_like_json(body) ? PayloadFormat::json : PayloadFormat::form;
  } else if (essence == "application/x-www-form-urlencoded") {
    result.format = PayloadFormat::form;
  } else if (essence == "application/json" || essence.ends_with("+json")) {
    result.format = PayloadFormat::json;
  } else {
    std::string shown;
    detail::append_utf8_replacing(shown, essence);
    result.error = Diagnostic{
        "", "unsupported_media_type",
        "Content type '" + std::string(detail::utf8_prefix(shown, 100)) +
            "' is not accepted; send application/x-www-form-urlencoded or application/json."};
    return result;
  }
  result.error = result.format == PayloadFormat::json
                     ? decode_json(body, limits, out, source.drop_structured_arrays)
                     : decode_form(body, limits, out);
  return result;
}

}  // namespace callhook
