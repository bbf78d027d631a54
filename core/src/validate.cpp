#include "callhook/validate.h"

#include <bitset>
#include <cstdio>
#include <utility>

#include "json_writer.h"
#include "text_util.h"
#include "utf8.h"
#include "value_formats.h"

namespace callhook {
namespace {

static_assert(kMaxSpecFields <= 64);

// Values are quoted back in messages so people can see what arrived, but never at length.
std::string quoted(std::string_view value) {
  std::string out = "\"";
  const std::string_view shown = detail::utf8_prefix(value, 60);
  out.append(shown);
  if (shown.size() < value.size()) out.append("...");
  out.push_back('"');
  return out;
}

// Names the character that starts at `at` for a person: "a line feed (U+000A)", "the non-ASCII
// character "é" (U+00E9)". Decoded values are UTF-8 (the decoders replace anything else).
std::string describe_character(std::string_view value, std::size_t at) {
  static constexpr std::pair<unsigned char, std::string_view> kNames[] = {
      {0x00, "a NUL byte"},        {0x09, "a tab"},   {0x0A, "a line feed"},
      {0x0D, "a carriage return"}, {0x20, "a space"}, {0x7F, "a DEL (delete) byte"},
  };
  const auto lead = static_cast<unsigned char>(value[at]);
  std::size_t length = 1;
  char32_t code = lead;
  if (lead >= 0xC0) {
    length = lead >= 0xF0 ? 4 : (lead >= 0xE0 ? 3 : 2);
    if (at + length > value.size()) length = 1;
    code = lead & (0x7F >> length);
    for (std::size_t i = 1; i < length; ++i) {
      code = (code << 6) | (static_cast<unsigned char>(value[at + i]) & 0x3F);
    }
  }
  char hex[12];
  std::snprintf(hex, sizeof hex, "U+%04X", static_cast<unsigned>(code));
  if (code == 0xFFFD) return "U+FFFD, which stands in for bytes that were not UTF-8";
  if (lead >= 0x80) {
    return "the non-ASCII character \"" + std::string(value.substr(at, length)) + "\" (" + hex +
           ")";
  }
  std::string name = "a control character";
  for (const auto& [byte, text] : kNames) {
    if (byte == lead) name = text;
  }
  return name + " (" + hex + ")";
}

std::string allowed_list(std::span<const std::string_view> allowed) {
  std::string out;
  for (std::size_t i = 0; i < allowed.size(); ++i) {
    if (i > 0) out.append(i + 1 == allowed.size() ? " or " : ", ");
    out.append(allowed[i]);
  }
  return out;
}

class Validator {
 public:
  Validator(const FieldList& fields, Mode mode, Report& report)
      : fields_(fields), mode_(mode), report_(report) {}

  void run() {
    report_.slot.fill(-1);
    if (fields_.empty()) {
      error("", "empty_payload", "The webhook carried no parameters at all.");
      return;
    }
    index_fields();
    read_event();
    const auto rows = spec_fields();
    for (std::size_t row = 0; row < rows.size(); ++row) check_row(row, rows[row]);
    report_.valid = report_.errors.empty();
  }

 private:
  void error(std::string_view field, std::string_view code, std::string message) {
    report_.errors.push_back({std::string(field), std::string(code), std::move(message)});
  }
  // Problems that strict mode refuses and lenient mode only reports.
  void policy(std::string_view field, std::string_view code, std::string message) {
    auto& list = mode_ == Mode::strict ? report_.errors : report_.warnings;
    list.push_back({std::string(field), std::string(code), std::move(message)});
  }

  void index_fields() {
    std::bitset<kMaxSpecFields> duplicate_reported;
    for (std::size_t i = 0; i < fields_.size(); ++i) {
      const std::string_view name = fields_.name(i);
      const auto row = find_spec_field(name);
      if (row) {
        if (report_.slot[*row] < 0) {
          report_.slot[*row] = static_cast<std::int32_t>(i);
          const Group group = spec_fields()[*row].group;
          if (group == Group::attribution) attribution_present_ = true;
          if (group == Group::session) session_present_ = true;
        } else if (!duplicate_reported[*row]) {
          duplicate_reported[*row] = true;
          policy(name, "duplicate_field",
                 std::string(name) + " was sent more than once; the first value is used.");
        }
      } else if (custom_dimension_number(name)) {
        ++report_.custom_dimension_count;
        if (const auto first = first_occurrence(i); first != i) {
          if (reported_again(i, first)) continue;
          policy(name, "duplicate_field",
                 std::string(name) + " was sent more than once; the first value is used.");
        }
      } else {
        ++report_.unknown_count;
        if (first_occurrence(i) != i) continue;  // one warning per name
        policy(name, "unknown_field",
               quoted(name) + " is not a Voice Webhooks parameter" +
                   (mode_ == Mode::strict ? "." : "; it is kept under \"extra\"."));
      }
    }
  }

  // Parameters outside the spec table are rare, so finding their first occurrence by a scan
  // costs nothing on the common path.
  std::size_t first_occurrence(std::size_t i) const {
    for (std::size_t j = 0; j < i; ++j) {
      if (fields_.name(j) == fields_.name(i)) return j;
    }
    return i;
  }
  // True when the field at `i` is a third (or later) occurrence: its duplicate is reported.
  bool reported_again(std::size_t i, std::size_t first) const {
    for (std::size_t j = first + 1; j < i; ++j) {
      if (fields_.name(j) == fields_.name(i)) return true;
    }
    return false;
  }

  void read_event() {
    const std::int32_t slot = report_.slot[1];  // Event
    if (slot < 0) return;
    report_.event = parse_event(fields_.value(static_cast<std::size_t>(slot)));
  }

  void check_row(std::size_t row, const FieldSpec& spec) {
    Presence presence;
    if (report_.event) {
      presence = presence_on(spec, *report_.event);
    } else {  // without a known event only the parameters every event requires are required
      presence = spec.initiate == Presence::required && spec.complete == Presence::required
                     ? Presence::required
                     : Presence::optional;
    }
    if ((spec.group == Group::attribution && !attribution_present_) ||
        (spec.group == Group::session && !session_present_)) {
      presence = Presence::optional;
    }
    const std::int32_t slot = report_.slot[row];
    if (slot < 0) {
      if (presence == Presence::required) missing(spec);
      return;
    }
    if (presence == Presence::not_allowed) {
      policy(spec.name, "not_allowed_for_event",
             std::string(spec.name) + " is not sent with " +
                 std::string(to_string(*report_.event)) + ".");
    }
    const std::string_view value = fields_.value(static_cast<std::size_t>(slot));
    if (value.empty()) {
      if (!spec.may_be_empty && presence == Presence::required) {
        group_aware(
            spec, "empty",
            std::string(spec.name) + " is sent but empty; it needs a value" +
                (grouped(spec) && mode_ == Mode::lenient ? "; the event carries null." : "."));
      }
      return;
    }
    check_value(spec, value);
  }

  void missing(const FieldSpec& spec) {
    std::string message = std::string(spec.name) + " is required";
    if (report_.event) {
      message += " on " + std::string(to_string(*report_.event));
    }
    if (grouped(spec)) {
      message += " when any " + std::string(to_string(spec.group)) + " parameter is sent";
    }
    message += " but was not sent";
    message += grouped(spec) && mode_ == Mode::lenient ? "; the event carries null." : ".";
    group_aware(spec, "missing", std::move(message));
  }

  static bool grouped(const FieldSpec& spec) {
    return spec.group == Group::attribution || spec.group == Group::session;
  }
  // A group sent incomplete is kept in lenient mode (members not sent are null in the event):
  // the call still happened. Strict mode refuses it. Other required parameters are errors.
  void group_aware(const FieldSpec& spec, std::string_view code, std::string message) {
    if (grouped(spec)) {
      policy(spec.name, code, std::move(message));
    } else {
      error(spec.name, code, std::move(message));
    }
  }

  void check_value(const FieldSpec& spec, std::string_view value) {
    // Messages are built only on failure: the valid path must not allocate per field.
    const auto name = [&spec] { return std::string(spec.name); };
    switch (spec.type) {
      case FieldType::text:
      case FieldType::comma_list:
        return;
      case FieldType::identifier:
        check_identifier(spec, value);
        return;
      case FieldType::integer: {
        const bool negative = value.starts_with('-');
        if (!detail::all_digits(value.substr(negative ? 1 : 0))) {
          error(spec.name, "not_integer",
                name() + " must be a whole number, not " + quoted(value) + ".");
        } else if (!detail::parse_int64(value)) {
          error(spec.name, "out_of_range", name() + " is too large: " + quoted(value) + ".");
        }
        return;
      }
      case FieldType::non_negative_integer:
        if (value.starts_with('-') && detail::all_digits(value.substr(1))) {
          error(spec.name, "negative", name() + " cannot be negative: " + quoted(value) + ".");
        } else if (!detail::all_digits(value)) {
          error(spec.name, "not_integer",
                name() + " must be a whole number of seconds, not " + quoted(value) + ".");
        } else if (!detail::parse_int64(value)) {
          error(spec.name, "out_of_range", name() + " is too large: " + quoted(value) + ".");
        }
        return;
      case FieldType::datetime:
        if (!detail::parse_spec_datetime(value)) {
          error(spec.name, "bad_datetime",
                name() + " must be a real date and time written yyyy-MM-dd HH:mm:ss (UTC), not " +
                    quoted(value) + ".");
        }
        return;
      case FieldType::e164_or_anonymous:
        if (value == "anonymous") return;
        [[fallthrough]];
      case FieldType::e164:
        if (!detail::is_e164(value)) bad_phone(spec, value);
        return;
      case FieldType::http_uri:
        if (!detail::is_http_uri(value)) {
          error(spec.name, "bad_uri",
                name() + " must be a full web address starting with http:// or https://, not " +
                    quoted(value) + ".");
        }
        return;
      case FieldType::enumeration:
        check_enum(spec, value);
        return;
    }
  }

  // Identifiers become idempotency keys, header values, record keys and store keys, where a
  // line break, a control byte, a space or a non-ASCII character cannot go: refused in every
  // mode, naming the first such character and where it is (before it, all is ASCII, so its
  // byte offset + 1 is its position in characters).
  void check_identifier(const FieldSpec& spec, std::string_view value) {
    const std::size_t at = detail::first_non_visible_ascii(value);
    if (at == std::string_view::npos) return;
    error(spec.name, "bad_identifier",
          std::string(spec.name) + " may hold only visible ASCII characters (letters, digits and " +
              "punctuation, no spaces), but character " + std::to_string(at + 1) + " of " +
              quoted(value) + " is " + describe_character(value, at) +
              ". It is used as a key and in headers, where that character cannot go.");
  }

  void bad_phone(const FieldSpec& spec, std::string_view value) {
    std::string message = std::string(spec.name) +
                          " must be a phone number in international E.164 format like "
                          "+14155550100";
    if (spec.type == FieldType::e164_or_anonymous) message += " (or anonymous)";
    message += ", not " + quoted(value) + ".";
    std::string with_plus(value);
    if (!with_plus.empty()) with_plus.front() = '+';
    if (value.starts_with(' ') && detail::is_e164(with_plus)) {
      message +=
          " The '+' arrived as a space: in a form or query string it must be encoded as %2B.";
    }
    error(spec.name, "bad_e164", std::move(message));
  }

  void check_enum(const FieldSpec& spec, std::string_view value) {
    for (const std::string_view allowed : spec.allowed) {
      if (value == allowed) return;
    }
    std::string message = std::string(spec.name) + " must be " + allowed_list(spec.allowed) +
                          ", not " + quoted(value) + ".";
    for (const std::string_view allowed : spec.allowed) {
      if (detail::iequals(value, allowed)) {
        message += " Values are case-sensitive: use " + std::string(allowed) + ".";
      }
    }
    if (spec.enum_is_policy) {
      policy(spec.name, "not_in_enum", std::move(message));
    } else {
      error(spec.name, "not_in_enum", std::move(message));
    }
  }

  const FieldList& fields_;
  Mode mode_;
  Report& report_;
  bool attribution_present_ = false;
  bool session_present_ = false;
};

}  // namespace

void write_diagnostics(JsonWriter& w, const std::vector<Diagnostic>& list) {
  w.begin_array();
  for (const Diagnostic& d : list) {
    w.begin_object();
    w.key("field").string(d.field);
    w.key("code").string(d.code);
    w.key("message").string(d.message);
    w.end_object();
  }
  w.end_array();
}

std::optional<Mode> parse_mode(std::string_view text) {
  if (text == "lenient") return Mode::lenient;
  if (text == "strict") return Mode::strict;
  return std::nullopt;
}

std::string_view to_string(Mode mode) {
  return mode == Mode::strict ? "strict" : "lenient";
}

Report validate(const FieldList& fields, Mode mode) {
  Report report;
  Validator(fields, mode, report).run();
  return report;
}

void write_report_json(const Report& report, std::string& out) {
  JsonWriter w(out);
  w.begin_object();
  w.key("valid").boolean(report.valid);
  w.key("event");
  if (report.event) {
    w.string(to_string(*report.event));
  } else {
    w.null();
  }
  w.key("errors");
  write_diagnostics(w, report.errors);
  w.key("warnings");
  write_diagnostics(w, report.warnings);
  w.end_object();
}

}  // namespace callhook
