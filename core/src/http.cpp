#include "callhook/http.h"

#include <cstddef>
#include <optional>
#include <string_view>
#include "text_util.h"

namespace callhook {

std::optional<std::int64_t> parse_decimal(std::string_view text, std::size_t max_digits) {
  if (text.empty() || text.size() > max_digits || text.size() > 18) return std::nullopt;
  std::int64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

std::optional<std::string_view> Request::header(std::string_view name) const {
  for (const HttpHeader& h : headers) {
    if (detail::iequals(h.name, name)) return std::string_view(h.value);
  }
  return std::nullopt;
}

}  // namespace callhook
