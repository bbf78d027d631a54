#include "template.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "callhook/filter.h"
#include "callhook/http.h"
#include "compact_json.h"
#include "text_util.h"
#include "value_formats.h"

namespace callhook {
namespace {

using nlohmann::json;

CALLHOOK_COLD_BEGIN  // templates are read when the config is

// ---------------------------------------------------------------------------------------------
// Placeholder syntax

enum class FilterKind : std::uint8_t { default_, upper, lower, iso8601, epoch_ms };

struct FilterCall {
  FilterKind kind;
  json arg;  // default's value; null for the others
};

struct Placeholder {
  std::string_view path;
  std::vector<FilterCall> filters;
};

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// The first position at or after `from` where `needle` starts outside a double-quoted string
// literal (backslash escapes honoured), or npos. `in_string` tells whether the text ended
// inside a literal.
std::size_t find_outside_quotes(std::string_view s, std::size_t from, std::string_view needle,
                                bool& in_string) {
  in_string = false;
  for (std::size_t i = from; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (s.substr(i, needle.size()) == needle) {
      return i;
    }
  }
  return std::string_view::npos;
}

// Splits at `sep` outside double-quoted string literals (default:"a|b" is one filter).
std::vector<std::string_view> split_outside_quotes(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  bool in_string = false;
  for (std::size_t at; (at = find_outside_quotes(s, start, std::string_view(&sep, 1), in_string)) !=
                       std::string_view::npos;
       start = at + 1) {
    parts.push_back(s.substr(start, at - start));
  }
  parts.push_back(s.substr(start));
  return parts;
}

bool is_path_char(char c) {
  if (is_space(c) || static_cast<unsigned char>(c) < 0x20) return false;
  switch (c) {
    case '{':
    case '}':
    case '|':
    case '"':
    case ':':
    case '[':
    case ']':
      return false;
    default:
      return true;
  }
}

// Empty on success, else what is wrong with the path.
std::string path_error(std::string_view path) {
  if (path.empty()) return "the placeholder names no path";
  std::size_t segment = 0;
  for (std::size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '.') {
      if (i == segment) return "the path \"" + std::string(path) + "\" has an empty segment";
      segment = i + 1;
    } else if (!is_path_char(path[i])) {
      return "the path \"" + std::string(path) + "\" holds a character paths may not contain";
    }
  }
  return {};
}

std::optional<FilterKind> parse_filter_name(std::string_view name) {
  if (name == "default") return FilterKind::default_;
  if (name == "upper") return FilterKind::upper;
  if (name == "lower") return FilterKind::lower;
  if (name == "iso8601") return FilterKind::iso8601;
  if (name == "epoch_ms") return FilterKind::epoch_ms;
  return std::nullopt;
}

// Parses the text between "{{" and "}}". On failure returns nullopt and sets `error`.
std::optional<Placeholder> parse_placeholder(std::string_view inner, std::string& error) {
  const std::vector<std::string_view> parts = split_outside_quotes(inner, '|');
  Placeholder p;
  p.path = trim(parts.front());
  error = path_error(p.path);
  if (!error.empty()) return std::nullopt;
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const std::string_view part = trim(parts[i]);
    const std::size_t colon = part.find(':');
    const std::string_view name = trim(part.substr(0, colon));
    const std::optional<FilterKind> kind = parse_filter_name(name);
    if (!kind) {
      error = name.empty() ? std::string("a filter name is missing after '|'")
                           : "unknown filter \"" + std::string(name) + "\"";
      return std::nullopt;
    }
    FilterCall call{*kind, json()};
    if (*kind == FilterKind::default_) {
      if (colon == std::string_view::npos) {
        error = "default needs an argument, e.g. default:\"n/a\"";
        return std::nullopt;
      }
      call.arg = json::parse(trim(part.substr(colon + 1)), nullptr, /*allow_exceptions=*/false);
      if (call.arg.is_discarded() || call.arg.is_structured()) {
        error = "the default argument must be a JSON string, number, boolean or null";
        return std::nullopt;
      }
    } else if (colon != std::string_view::npos) {
      error = "the filter " + std::string(name) + " takes no argument";
      return std::nullopt;
    }
    p.filters.push_back(std::move(call));
  }
  return p;
}

// One piece of a template string: literal text, or a placeholder (valid or not).
struct Piece {
  std::string_view text;  // the literal text, or the whole "{{...}}" of a placeholder
  std::optional<Placeholder> placeholder;
  bool is_placeholder = false;
};

// Splits `s` into pieces. Problems are appended to `errors` when it is not null.
std::vector<Piece> parse_string(std::string_view s, std::vector<std::string>* errors) {
  std::vector<Piece> pieces;
  std::size_t pos = 0;
  while (pos < s.size()) {
    const std::size_t open = s.find("{{", pos);
    if (open == std::string_view::npos) break;
    if (open > pos) pieces.push_back({s.substr(pos, open - pos), std::nullopt, false});
    // The closing "}}" is searched outside string literals so default:"}}" works.
    bool in_string = false;
    const std::size_t close = find_outside_quotes(s, open + 2, "}}", in_string);
    if (close == std::string_view::npos) {
      if (errors != nullptr) {
        errors->push_back("\"{{\" at offset " + std::to_string(open) +
                          " is never closed by \"}}\"" +
                          (in_string ? " (an unterminated \" swallows the rest)" : ""));
      }
      pos = open;
      break;
    }
    std::string error;
    Piece piece{s.substr(open, close + 2 - open), std::nullopt, true};
    piece.placeholder = parse_placeholder(s.substr(open + 2, close - open - 2), error);
    if (!piece.placeholder && errors != nullptr) {
      errors->push_back(error + " in " + std::string(piece.text));
    }
    pieces.push_back(std::move(piece));
    pos = close + 2;
  }
  if (pos < s.size()) pieces.push_back({s.substr(pos), std::nullopt, false});
  return pieces;
}

CALLHOOK_COLD_END

// ---------------------------------------------------------------------------------------------
// Paths

const json* resolve(std::string_view path, const json& context) {
  const json* node = &context;
  std::string_view rest = path;
  while (true) {
    if (node->is_object()) {
      if (const json* found = detail::context_member(*node, rest, &context)) return found;
      bool descended = false;
      for (std::size_t dot = rest.rfind('.'); dot != std::string_view::npos && dot > 0;
           dot = rest.rfind('.', dot - 1)) {
        if (const json* found = detail::context_member(*node, rest.substr(0, dot), &context)) {
          node = found;
          rest = rest.substr(dot + 1);
          descended = true;
          break;
        }
      }
      if (!descended) return nullptr;
    } else if (node->is_array()) {
      const std::size_t dot = rest.find('.');
      const std::string_view segment = rest.substr(0, dot);
      if (segment.empty() || segment.size() > 9) return nullptr;
      std::size_t index = 0;
      for (const char c : segment) {
        if (c < '0' || c > '9') return nullptr;
        index = index * 10 + static_cast<std::size_t>(c - '0');
      }
      if (index >= node->size()) return nullptr;
      node = &(*node)[index];
      if (dot == std::string_view::npos) return node;
      rest = rest.substr(dot + 1);
    } else {
      return nullptr;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Date-times

constexpr std::int64_t kSecondsPerDay = 86400;

bool is_leap(std::int64_t y) {
  return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

unsigned days_in_month(std::int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the range the four-digit output can show.
constexpr std::int64_t kMinEpochSeconds = -62167219200;
constexpr std::int64_t kMaxEpochSeconds = 253402300799;

// A point in time: whole seconds since the epoch and the milliseconds past them (0-999).
struct Instant {
  std::int64_t seconds;
  std::int64_t millis;
};

std::optional<Instant> make_instant(std::int64_t seconds, std::int64_t millis) {
  if (seconds < kMinEpochSeconds || seconds > kMaxEpochSeconds) return std::nullopt;
  return Instant{seconds, millis};
}

// Reads exactly `n` digits at `pos`, advancing it.
std::optional<unsigned> digits(std::string_view s, std::size_t& pos, std::size_t n) {
  if (pos + n > s.size()) return std::nullopt;
  unsigned value = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  pos += n;
  return value;
}

bool expect(std::string_view s, std::size_t& pos, char c) {
  if (pos >= s.size() || s[pos] != c) return false;
  ++pos;
  return true;
}

// Epoch seconds written as decimal digits (an optional '-' first).
std::optional<Instant> parse_epoch_text(std::string_view s) {
  const bool negative = !s.empty() && s.front() == '-';
  if (negative) s.remove_prefix(1);
  const std::optional<std::int64_t> value = parse_decimal(s, 12);
  if (!value) return std::nullopt;
  return make_instant(negative ? -*value : *value, 0);
}

std::optional<Instant> parse_datetime_text(std::string_view s) {
  if (const std::optional<Instant> epoch = parse_epoch_text(s)) return epoch;
  std::size_t pos = 0;
  const auto year = digits(s, pos, 4);
  if (!year || !expect(s, pos, '-')) return std::nullopt;
  const auto month = digits(s, pos, 2);
  if (!month || !expect(s, pos, '-')) return std::nullopt;
  const auto day = digits(s, pos, 2);
  if (!day || *month < 1 || *month > 12 || *day < 1 || *day > days_in_month(*year, *month)) {
    return std::nullopt;
  }
  const std::int64_t days = detail::days_from_civil(*year, *month, *day);
  if (pos == s.size()) return make_instant(days * kSecondsPerDay, 0);

  if (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' ') return std::nullopt;
  ++pos;
  const auto hour = digits(s, pos, 2);
  if (!hour || !expect(s, pos, ':')) return std::nullopt;
  const auto minute = digits(s, pos, 2);
  if (!minute || !expect(s, pos, ':')) return std::nullopt;
  const auto second = digits(s, pos, 2);
  if (!second || *hour > 23 || *minute > 59 || *second > 59) return std::nullopt;

  std::int64_t millis = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    const std::size_t start = pos;
    std::int64_t scale = 100;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      millis += (s[pos] - '0') * scale;  // digits past milliseconds are dropped
      scale /= 10;
      ++pos;
    }
    if (pos == start) return std::nullopt;
  }

  std::int64_t offset = 0;  // seconds east of UTC
  if (pos < s.size()) {
    if (s[pos] == 'Z' || s[pos] == 'z') {
      ++pos;
    } else if (s[pos] == '+' || s[pos] == '-') {
      const std::int64_t sign = s[pos] == '-' ? -1 : 1;
      ++pos;
      const auto oh = digits(s, pos, 2);
      if (!oh) return std::nullopt;
      const bool colon = expect(s, pos, ':');
      const auto om = digits(s, pos, 2);
      if (!om || (!colon && pos != s.size()) || *oh > 23 || *om > 59) return std::nullopt;
      offset = sign * (*oh * 3600 + *om * 60);
    } else {
      return std::nullopt;
    }
  }
  if (pos != s.size()) return std::nullopt;
  const std::int64_t local = days * kSecondsPerDay + *hour * 3600 + *minute * 60 + *second;
  return make_instant(local - offset, millis);
}

std::optional<Instant> to_instant(const json& v) {
  if (const auto* s = v.get_ptr<const json::string_t*>()) return parse_datetime_text(*s);
  // Unsigned first: nlohmann's get_ptr<number_integer_t*> also answers for unsigned values.
  if (const auto* u = v.get_ptr<const json::number_unsigned_t*>()) {
    if (*u > static_cast<std::uint64_t>(kMaxEpochSeconds)) return std::nullopt;
    return make_instant(static_cast<std::int64_t>(*u), 0);
  }
  if (const auto* i = v.get_ptr<const json::number_integer_t*>()) return make_instant(*i, 0);
  if (const auto* f = v.get_ptr<const json::number_float_t*>()) {
    // Range-check before converting: casting an out-of-range double is undefined behaviour.
    const double x = *f;
    if (!(x >= static_cast<double>(kMinEpochSeconds) &&
          x < static_cast<double>(kMaxEpochSeconds) + 1.0)) {
      return std::nullopt;
    }
    auto whole = static_cast<std::int64_t>(x);  // truncates toward zero
    if (static_cast<double>(whole) > x) --whole;
    auto millis = static_cast<std::int64_t>((x - static_cast<double>(whole)) * 1000.0);
    if (millis > 999) millis = 999;
    return make_instant(whole, millis);
  }
  return std::nullopt;
}

std::string format_iso8601(const Instant& t) {
  std::string out;
  out.reserve(20);
  detail::append_iso8601(out, detail::format_spec_datetime(t.seconds));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Rendering

// The value of a placeholder; nullopt when the path resolves to nothing.
std::optional<json> evaluate(const Placeholder& p, const json& context) {
  std::optional<json> value;
  if (const json* found = resolve(p.path, context)) value = *found;
  for (const FilterCall& f : p.filters) {
    switch (f.kind) {
      case FilterKind::default_: {
        const auto* s = value ? value->get_ptr<const json::string_t*>() : nullptr;
        if (!value || value->is_null() || (s != nullptr && s->empty())) value = f.arg;
        break;
      }
      case FilterKind::upper:
      case FilterKind::lower:
        if (auto* s = value ? value->get_ptr<json::string_t*>() : nullptr) {
          const bool up = f.kind == FilterKind::upper;
          for (char& c : *s) {
            if (up && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
            if (!up && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
          }
        }
        break;
      case FilterKind::iso8601:
      case FilterKind::epoch_ms: {
        const std::optional<Instant> t = value ? to_instant(*value) : std::nullopt;
        if (!t) {
          value = json(nullptr);
        } else if (f.kind == FilterKind::iso8601) {
          value = format_iso8601(*t);
        } else {
          value = json(t->seconds * 1000 + t->millis);
        }
        break;
      }
    }
  }
  return value;
}

void append_text(std::string& out, const std::optional<json>& value) {
  if (!value || value->is_null()) return;
  if (const auto* s = value->get_ptr<const json::string_t*>()) {
    out.append(*s);
    return;
  }
  // As dump() with `replace`, which keeps it from aborting on invalid UTF-8 under
  // JSON_NOEXCEPTION.
  detail::append_compact_json(out, *value);
}

json render_pieces(const std::vector<Piece>& pieces, std::size_t size_hint, const json& context) {
  if (pieces.size() == 1 && pieces.front().placeholder) {
    std::optional<json> value = evaluate(*pieces.front().placeholder, context);
    return value ? std::move(*value) : json(nullptr);
  }
  std::string out;
  out.reserve(size_hint);
  for (const Piece& piece : pieces) {
    if (piece.placeholder) {
      append_text(out, evaluate(*piece.placeholder, context));
    } else {
      out.append(piece.text);  // literal text, or a bad placeholder kept as written
    }
  }
  return out;
}

json render_string(const std::string& s, const json& context) {
  return render_pieces(parse_string(s, nullptr), s.size(), context);
}

json render(const json& tpl, const json& context, int level) {
  if (const auto* s = tpl.get_ptr<const json::string_t*>()) return render_string(*s, context);
  if (!tpl.is_structured() || tpl.empty() || level >= kMaxTemplateDepth) return tpl;
  if (tpl.is_array()) {
    json out = json::array();
    for (const json& item : tpl) out.push_back(render(item, context, level + 1));
    return out;
  }
  json out = json::object();
  for (auto it = tpl.begin(); it != tpl.end(); ++it) {
    out[it.key()] = render(it.value(), context, level + 1);
  }
  return out;
}

CALLHOOK_COLD_BEGIN

// ---------------------------------------------------------------------------------------------
// Checking

void check(const json& tpl, std::string& pointer, int level, std::vector<Diagnostic>& out) {
  if (const auto* s = tpl.get_ptr<const json::string_t*>()) {
    std::vector<std::string> errors;
    (void)parse_string(*s, &errors);
    for (std::string& e : errors) out.push_back({pointer, "bad_template", std::move(e)});
    return;
  }
  if (!tpl.is_structured() || tpl.empty()) return;
  if (level >= kMaxTemplateDepth) {
    out.push_back(
        {pointer, "bad_template",
         "the template nests deeper than " + std::to_string(kMaxTemplateDepth) + " levels"});
    return;
  }
  const std::size_t size = pointer.size();
  if (tpl.is_array()) {
    for (std::size_t i = 0; i < tpl.size(); ++i) {
      detail::append_pointer_token(pointer, std::to_string(i));
      check(tpl[i], pointer, level + 1, out);
      pointer.resize(size);
    }
    return;
  }
  for (auto it = tpl.begin(); it != tpl.end(); ++it) {
    detail::append_pointer_token(pointer, it.key());
    check(it.value(), pointer, level + 1, out);
    pointer.resize(size);
  }
}

}  // namespace

namespace {

// Mirrors render(): the same levels, so the same parts are read.
void collect_paths(const json& tpl, int level, std::vector<std::string>& out) {
  if (const auto* s = tpl.get_ptr<const json::string_t*>()) {
    for (const Piece& piece : parse_string(*s, nullptr)) {
      if (piece.placeholder) out.emplace_back(piece.placeholder->path);
    }
  } else if (tpl.is_structured() && level < kMaxTemplateDepth) {
    for (const json& item : tpl) collect_paths(item, level + 1, out);
  }
}

}  // namespace

void template_paths(const json& tpl, std::vector<std::string>& out) {
  collect_paths(tpl, 0, out);
}

std::vector<Diagnostic> check_template(const json& tpl) {
  std::vector<Diagnostic> out;
  std::string pointer;
  check(tpl, pointer, 0, out);
  return out;
}

CALLHOOK_COLD_END

json render_template(const json& tpl, const json& context) {
  return render(tpl, context, 0);
}

// ---------------------------------------------------------------------------------------------
// Compiled templates: render()'s walk, done once

struct CompiledTemplate::Node {
  enum class Kind : std::uint8_t { literal, text, array, object };
  Kind kind = Kind::literal;
  json literal;                               // literal: copied as it is
  std::unique_ptr<const std::string> source;  // text: the string its pieces point into
  std::vector<Piece> pieces;                  // text
  std::vector<Node> items;                    // array; object: the members' values
  std::vector<std::string> keys;              // object: the members' keys, in order
};

namespace {

CALLHOOK_COLD_BEGIN

// Mirrors render(): the same levels, so the same parts stay literal.
void compile(const json& tpl, int level, CompiledTemplate::Node& out) {
  using Kind = CompiledTemplate::Node::Kind;
  if (const auto* s = tpl.get_ptr<const json::string_t*>()) {
    out.kind = Kind::text;
    out.source = std::make_unique<const std::string>(*s);
    out.pieces = parse_string(*out.source, nullptr);
    return;
  }
  if (!tpl.is_structured() || tpl.empty() || level >= kMaxTemplateDepth) {
    out.literal = tpl;
    return;
  }
  if (tpl.is_array()) {
    out.kind = Kind::array;
    out.items.resize(tpl.size());
    for (std::size_t i = 0; i < tpl.size(); ++i) compile(tpl[i], level + 1, out.items[i]);
    return;
  }
  out.kind = Kind::object;
  out.items.resize(tpl.size());
  out.keys.reserve(tpl.size());
  std::size_t i = 0;
  for (auto it = tpl.begin(); it != tpl.end(); ++it, ++i) {
    out.keys.push_back(it.key());
    compile(it.value(), level + 1, out.items[i]);
  }
}

CALLHOOK_COLD_END

json render_compiled(const CompiledTemplate::Node& node, const json& context) {
  using Kind = CompiledTemplate::Node::Kind;
  switch (node.kind) {
    case Kind::literal:
      return node.literal;
    case Kind::text:
      return render_pieces(node.pieces, node.source->size(), context);
    case Kind::array: {
      json out = json::array();
      for (const auto& item : node.items) out.push_back(render_compiled(item, context));
      return out;
    }
    case Kind::object: {
      json out = json::object();
      auto& members = out.get_ref<json::object_t&>();
      for (std::size_t i = 0; i < node.keys.size(); ++i) {
        members.emplace_hint(members.end(), node.keys[i], render_compiled(node.items[i], context));
      }
      return out;
    }
  }
  return json();
}

// render_compiled's document as dump_compact_json writes it, written as it is rendered.
void write_compiled(const CompiledTemplate::Node& node, const json& context, std::string& out) {
  using Kind = CompiledTemplate::Node::Kind;
  switch (node.kind) {
    case Kind::literal:
      detail::append_compact_json(out, node.literal);
      return;
    case Kind::text:
      if (node.pieces.size() == 1 && node.pieces.front().placeholder &&
          node.pieces.front().placeholder->filters.empty()) {
        // The value itself, written from the context without a copy.
        const json* found = resolve(node.pieces.front().placeholder->path, context);
        if (found != nullptr) {
          detail::append_compact_json(out, *found);
        } else {
          out += "null";
        }
        return;
      }
      detail::append_compact_json(out, render_pieces(node.pieces, node.source->size(), context));
      return;
    case Kind::array:
      out.push_back('[');
      for (std::size_t i = 0; i < node.items.size(); ++i) {
        if (i > 0) out.push_back(',');
        write_compiled(node.items[i], context, out);
      }
      out.push_back(']');
      return;
    case Kind::object:
      // The keys are in the order the template's object (a std::map) holds them: dump()'s.
      out.push_back('{');
      for (std::size_t i = 0; i < node.keys.size(); ++i) {
        if (i > 0) out.push_back(',');
        detail::append_json_text(out, node.keys[i]);
        out.push_back(':');
        write_compiled(node.items[i], context, out);
      }
      out.push_back('}');
      return;
  }
  out += "null";
}

}  // namespace

CALLHOOK_COLD_BEGIN

CompiledTemplate::CompiledTemplate() : root_(std::make_shared<const Node>()) {}

CompiledTemplate::CompiledTemplate(const json& tpl) {
  auto root = std::make_shared<Node>();
  compile(tpl, 0, *root);
  root_ = std::move(root);
}

CALLHOOK_COLD_END

json CompiledTemplate::render(const json& context) const {
  return render_compiled(*root_, context);
}

void CompiledTemplate::write(std::string& out, const json& context) const {
  write_compiled(*root_, context, out);
}

}  // namespace callhook
