// Validating decoded fields against the Voice Webhooks spec.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "callhook/fields.h"
#include "callhook/spec.h"

namespace callhook {

/// `strict`: unknown fields, fields not allowed on the event, duplicate fields, a Property.Type
/// other than Site and an Attribution or Session group sent without (or with empty) members it
/// requires are errors. `lenient` (the default): they are warnings, and the call is kept.
enum class Mode : std::uint8_t { lenient, strict };
[[nodiscard]] std::optional<Mode> parse_mode(std::string_view text);
[[nodiscard]] std::string_view to_string(Mode mode);

inline constexpr std::size_t kMaxSpecFields = 64;

/// The verdict on one payload. Every problem is listed, not only the first.
struct Report {
  bool valid = false;
  std::optional<EventType> event;
  std::vector<Diagnostic> errors;
  std::vector<Diagnostic> warnings;
  /// For each spec row, the index in the FieldList of its first occurrence, or -1.
  std::array<std::int32_t, kMaxSpecFields> slot{};
  /// How many fields are not spec rows: custom dimensions, and unknown fields.
  std::uint32_t custom_dimension_count = 0;
  std::uint32_t unknown_count = 0;
};

/// Checks `fields` against the spec. Codes: missing, empty, not_integer, negative, out_of_range,
/// bad_datetime, bad_e164, bad_uri, bad_identifier, not_in_enum, unknown_field,
/// not_allowed_for_event, duplicate_field, empty_payload.
[[nodiscard]] Report validate(const FieldList& fields, Mode mode);

class JsonWriter;

/// Writes a list of findings as [{"field","code","message"}, ...] (verdicts, problem documents,
/// config errors).
void write_diagnostics(JsonWriter& w, const std::vector<Diagnostic>& list);

/// Appends a report to `out` as {"valid","event","errors":[{field,code,message}],"warnings"}.
void write_report_json(const Report& report, std::string& out);

}  // namespace callhook
