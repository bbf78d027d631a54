// The Voice Webhooks specification as data: one row per parameter.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace callhook {

enum class EventType : std::uint8_t { initiate, complete };
[[nodiscard]] std::string_view to_string(EventType event);
[[nodiscard]] std::optional<EventType> parse_event(std::string_view name);

enum class FieldType : std::uint8_t {
  text,                  // any string
  identifier,            // visible ASCII only (0x21 to 0x7E): it becomes keys and header values
  integer,               // optional '-' and digits, within int64
  non_negative_integer,  // digits, within int64
  datetime,              // yyyy-MM-dd HH:mm:ss, a real calendar date-time (UTC)
  e164,                  // '+', a non-zero digit, up to 14 more digits
  e164_or_anonymous,     // e164 or the literal "anonymous"
  http_uri,              // absolute http: or https: URI with a host
  enumeration,           // one of `allowed`, exactly
  comma_list,            // comma-separated items, normalised to an array
};
[[nodiscard]] std::string_view to_string(FieldType type);

/// Whether a field is required, optional or not allowed on an event.
enum class Presence : std::uint8_t { required, optional, not_allowed };

/// Parameter groups. Fields of the `attribution` and `session` groups are required only when
/// the group is present at all (any of its required members was sent).
enum class Group : std::uint8_t { common, call, attribution, session, integration };
[[nodiscard]] std::string_view to_string(Group group);

struct FieldSpec {
  std::string_view name;  // as sent, e.g. "Call.From.Country"
  FieldType type;
  Presence initiate;
  Presence complete;
  bool may_be_empty;    // an empty value is acceptable (and normalises to null)
  bool absent_is_null;  // when absent, the canonical event still carries null
  bool enum_is_policy;  // values outside `allowed` are errors only in strict mode
  Group group;
  std::span<const std::string_view> allowed;  // for enumerations
  std::string_view canonical_path;  // dotted path in the canonical event; empty: not carried
  std::string_view description;
};

/// Every parameter of the spec, in the order of the canonical event.
[[nodiscard]] std::span<const FieldSpec> spec_fields();

/// The family `AnalyticsSession.CustomDimensionN` (N = 1, 2, ...), which the spec lists by example.
inline constexpr std::string_view kCustomDimensionPrefix = "AnalyticsSession.CustomDimension";
/// Where custom dimensions appear in the canonical event, keyed by N.
inline constexpr std::string_view kCustomDimensionPath = "analytics.custom_dimensions";
/// Index of the spec row after which custom dimensions appear in the canonical event.
[[nodiscard]] std::size_t custom_dimension_anchor();

/// The row index of `name` in spec_fields(), if the name is a spec parameter.
[[nodiscard]] std::optional<std::size_t> find_spec_field(std::string_view name);
/// The N of AnalyticsSession.CustomDimensionN, if `name` is one (N without leading zeros, >= 1).
[[nodiscard]] std::optional<std::string_view> custom_dimension_number(std::string_view name);

[[nodiscard]] Presence presence_on(const FieldSpec& spec, EventType event);

/// Seconds since the Unix epoch of a "yyyy-MM-dd HH:mm:ss" (the spec's Call.StartDate format)
/// or "yyyy-MM-ddTHH:mm:ssZ" UTC date-time that exists on the calendar; nullopt otherwise.
[[nodiscard]] std::optional<std::int64_t> utc_datetime_to_epoch(std::string_view text);

}  // namespace callhook
