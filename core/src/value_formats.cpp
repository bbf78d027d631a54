#include "value_formats.h"

#include <charconv>

#include "swar.h"

namespace callhook::detail {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

int two_digits(std::string_view s, std::size_t at) {
  return (s[at] - '0') * 10 + (s[at + 1] - '0');
}

bool is_leap(int year) {
  return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int days_in_month(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap(year) ? 29 : kDays[month - 1];
}

}  // namespace

bool all_digits(std::string_view text) {
  if (text.empty()) return false;
  for (const char c : text) {
    if (!is_digit(c)) return false;
  }
  return true;
}

std::optional<std::int64_t> parse_int64(std::string_view text) {
  const std::string_view digits = text.starts_with('-') ? text.substr(1) : text;
  if (!all_digits(digits)) return std::nullopt;
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

Civil civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0), m, d};
}

std::string format_spec_datetime(std::int64_t epoch_seconds) {
  std::int64_t days = epoch_seconds / 86400;
  std::int64_t secs = epoch_seconds % 86400;
  if (secs < 0) {
    secs += 86400;
    --days;
  }
  const Civil c = civil_from_days(days);
  char buf[32];
  const auto put = [&](std::size_t at, std::int64_t value, int width) {
    for (int i = width - 1; i >= 0; --i) {
      buf[at + static_cast<std::size_t>(i)] = static_cast<char>('0' + value % 10);
      value /= 10;
    }
  };
  put(0, c.year, 4);
  buf[4] = '-';
  put(5, c.month, 2);
  buf[7] = '-';
  put(8, c.day, 2);
  buf[10] = ' ';
  put(11, secs / 3600, 2);
  buf[13] = ':';
  put(14, secs / 60 % 60, 2);
  buf[16] = ':';
  put(17, secs % 60, 2);
  return std::string(buf, 19);
}

std::optional<std::int64_t> parse_spec_datetime(std::string_view s) {
  // yyyy-MM-dd HH:mm:ss
  if (s.size() != 19 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' ||
      s[16] != ':') {
    return std::nullopt;
  }
  for (const std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18}) {
    if (!is_digit(s[i])) return std::nullopt;
  }
  const int year = two_digits(s, 0) * 100 + two_digits(s, 2);
  const int month = two_digits(s, 5);
  const int day = two_digits(s, 8);
  const int hour = two_digits(s, 11);
  const int minute = two_digits(s, 14);
  const int second = two_digits(s, 17);
  return civil_seconds(year, month, day, hour, minute, second);
}

std::optional<std::int64_t> civil_seconds(int year, int month, int day, int hour, int minute,
                                          int second) {
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) ||
      hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) {
    return std::nullopt;
  }
  return days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 +
         hour * 3600 + minute * 60 + second;
}

void append_iso8601(std::string& out, std::string_view s) {
  out.append(s.substr(0, 10));
  out.push_back('T');
  out.append(s.substr(11, 8));
  out.push_back('Z');
}

bool is_e164(std::string_view text) {
  if (text.size() < 3 || text.size() > 16 || text[0] != '+' || text[1] < '1' || text[1] > '9') {
    return false;
  }
  return all_digits(text.substr(1));
}

std::size_t first_non_visible_ascii(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] < '!' || text[i] > '~') return i;  // char may be signed: bytes >= 0x80 are < '!'
  }
  return std::string_view::npos;
}

bool is_http_uri(std::string_view text) {
  // The scheme is case-insensitive; the rest is checked as sent.
  const auto has_prefix = [text](std::string_view prefix) {
    if (text.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i) {
      char c = text[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != prefix[i]) return false;
    }
    return true;
  };
  std::size_t scheme = 0;
  if (has_prefix("https://")) {
    scheme = 5;
  } else if (has_prefix("http://")) {
    scheme = 4;
  } else {
    return false;
  }
  std::size_t i = 0;
  for (; i + 8 <= text.size(); i += 8) {  // no space, control byte or DEL, eight bytes at a time
    const std::uint64_t w = load8(text.data() + i);
    if ((less_lanes(w, 0x21) | byte_lanes(w, 0x7F)) != 0) return false;
  }
  for (; i < text.size(); ++i) {
    if (static_cast<unsigned char>(text[i]) <= 0x20 || text[i] == 0x7F) return false;
  }
  const std::string_view rest = text.substr(scheme + 3);
  std::size_t host_end = 0;
  while (host_end < rest.size() && rest[host_end] != '/' && rest[host_end] != '?' &&
         rest[host_end] != '#') {
    ++host_end;
  }
  std::string_view authority = rest.substr(0, host_end);
  const std::size_t at = authority.rfind('@');
  if (at != std::string_view::npos) authority = authority.substr(at + 1);
  return !authority.empty() && authority.front() != ':';
}

}  // namespace callhook::detail
