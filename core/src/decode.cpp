#include "callhook/decode.h"

#include <array>
#include <charconv>
#include <cstring>
#include <nlohmann/json.hpp>
#include <vector>

#include "swar.h"
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

// Appends `raw` with '+' turned into a space and valid %XX escapes decoded, then repairs the
// appended bytes to valid UTF-8. Decoding never lengthens the text, so the bytes are written
// through a pointer into space sized once; invalid UTF-8 is rare, so the repair copies only then.
void append_form_component(std::string& out, std::string_view raw) {
  const std::size_t start = out.size();
  out.resize(start + raw.size());
  char* dst = out.data() + start;
  const char* src = raw.data();
  const char* const end = src + raw.size();
  // A plain byte loop: webhook values are short and dense with escapes, where skipping ahead
  // eight bytes at a time loses to the branch it adds.
  while (src < end) {
    const char c = *src++;
    int hi = 0;
    int lo = 0;
    if (c == '+') {
      *dst++ = ' ';
    } else if (c == '%' && end - src >= 2 && (hi = hex_digit(src[0])) >= 0 &&
               (lo = hex_digit(src[1])) >= 0) {
      *dst++ = static_cast<char>(hi * 16 + lo);
      src += 2;
    } else {  // any other byte, a '%' without two hex digits included, is kept as it is
      *dst++ = c;
    }
  }
  out.resize(static_cast<std::size_t>(dst - out.data()));
  const std::string_view appended(out.data() + start, out.size() - start);
  if (!detail::is_valid_utf8(appended)) {
    const std::string copy(appended);
    out.resize(start);
    detail::append_utf8_replacing(out, copy);
  }
}

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
  FlatteningSax(const Limits& limits, FieldList& out) : limits_(limits), out_(out) {}

  std::optional<Diagnostic> error;

  bool null() { return scalar(""); }
  bool boolean(bool value) { return scalar(value ? "true" : "false"); }
  bool number_integer(json::number_integer_t value) { return integer_text(value); }
  bool number_unsigned(json::number_unsigned_t value) { return integer_text(value); }
  bool number_float(json::number_float_t /*value*/, const json::string_t& text) {
    return scalar(text);
  }
  bool string(json::string_t& value) { return scalar(value); }
  bool binary(json::binary_t& /*value*/) {
    return fail("unsupported_json", "Binary values are not supported.");
  }

  bool start_object(std::size_t /*size*/) {
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
    key_.assign(name);
    return true;
  }
  bool end_object() {
    stack_.pop_back();
    if (!stack_.empty()) {
      path_.resize(prefix_lengths_.back());
      prefix_lengths_.pop_back();
    }
    return true;
  }
  bool start_array(std::size_t /*size*/) {
    if (stack_.empty()) return not_object();
    if (stack_.back() == Frame::array) return nested_in_array();
    if (!begin_field()) return false;
    stack_.push_back(Frame::array);
    array_empty_ = true;
    return true;
  }
  bool end_array() {
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
    return fail(
        "unsupported_json",
        "Arrays may hold only strings, numbers, booleans and nulls, not objects or arrays.");
  }
  bool fail(std::string_view code, std::string_view message) {
    return fail(Diagnostic{"", std::string(code), std::string(message)});
  }
  bool fail(Diagnostic diagnostic) {
    if (!error) error = std::move(diagnostic);
    return false;
  }

  const Limits& limits_;
  FieldList& out_;
  std::vector<Frame> stack_;
  std::vector<std::size_t> prefix_lengths_;
  std::string path_;  // dotted prefix of the current object, ending in '.'
  std::string key_;
  bool array_empty_ = true;
};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

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
  std::size_t pos = 0;
  while (pos <= bytes.size()) {
    std::size_t amp = bytes.find('&', pos);
    if (amp == std::string_view::npos) amp = bytes.size();
    const std::string_view sequence = bytes.substr(pos, amp - pos);
    pos = amp + 1;
    if (sequence.empty()) continue;
    if (out.size() >= limits.max_fields) return too_many_fields(limits);
    const std::size_t eq = sequence.find('=');
    const std::string_view name = sequence.substr(0, eq);
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view() : sequence.substr(eq + 1);
    out.begin_field();
    append_form_component(out.buffer(), name);
    if (out.buffer().size() - out.pending_begin() > limits.max_name_bytes) {
      out.abandon_field();
      return name_too_long(limits);
    }
    out.end_name();
    append_form_component(out.buffer(), value);
    if (out.buffer().size() - out.pending_name_end() > limits.max_value_bytes) {
      const std::string field(out.buffer().data() + out.pending_begin(),
                              out.pending_name_end() - out.pending_begin());
      out.abandon_field();
      return value_too_long(field, limits);
    }
    out.end_field();
  }
  return std::nullopt;
}

std::optional<Diagnostic> decode_json(std::string_view bytes, const Limits& limits,
                                      FieldList& out) {
  FlatteningSax sax(limits, out);
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
  const bool is_get = iequals(source.method, "GET") || iequals(source.method, "HEAD");
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
  result.error = result.format == PayloadFormat::json ? decode_json(body, limits, out)
                                                      : decode_form(body, limits, out);
  return result;
}

}  // namespace callhook
