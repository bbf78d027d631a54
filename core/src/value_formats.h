// Checks and conversions for the value formats of the spec (internal to the core).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace callhook::detail {

/// Parses optional '-' then decimal digits into an int64; nullopt on anything else or overflow.
[[nodiscard]] std::optional<std::int64_t> parse_int64(std::string_view text);
[[nodiscard]] bool all_digits(std::string_view text);

/// Seconds since the Unix epoch of a UTC date-time that exists on the calendar (year 1 on, leap
/// years included, seconds 0 to 59), or nullopt.
[[nodiscard]] std::optional<std::int64_t> civil_seconds(int year, int month, int day, int hour,
                                                        int minute, int second);
/// Seconds since the Unix epoch of a UTC "yyyy-MM-dd HH:mm:ss" that is a real calendar
/// date-time (leap years included), or nullopt.
[[nodiscard]] std::optional<std::int64_t> parse_spec_datetime(std::string_view text);
/// Appends the ISO 8601 UTC form "yyyy-MM-ddTHH:mm:ssZ" of a valid spec date-time.
void append_iso8601(std::string& out, std::string_view spec_datetime);

/// '+', a digit 1-9, then 1 to 14 more digits.
[[nodiscard]] bool is_e164(std::string_view text);
/// The offset of the first byte of `text` outside visible ASCII (0x21 to 0x7E), or npos when
/// there is none: identifiers become header values, record keys and idempotency keys.
[[nodiscard]] std::size_t first_non_visible_ascii(std::string_view text);
/// An absolute http: or https: URI with a non-empty host and no whitespace or control bytes.
[[nodiscard]] bool is_http_uri(std::string_view text);

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
[[nodiscard]] std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d);

struct Civil {
  std::int64_t year;
  unsigned month;
  unsigned day;
};
/// The inverse of days_from_civil.
[[nodiscard]] Civil civil_from_days(std::int64_t days);
/// The spec's UTC "yyyy-MM-dd HH:mm:ss" of `epoch_seconds` (years 0 to 9999).
[[nodiscard]] std::string format_spec_datetime(std::int64_t epoch_seconds);

}  // namespace callhook::detail
