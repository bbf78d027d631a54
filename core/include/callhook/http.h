// The HTTP request as the engine sees it: what a shell received, before any decoding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace callhook {

struct HttpHeader {
  std::string name;
  std::string value;
};

/// A non-negative integer written as 1 to `max_digits` ASCII digits and nothing else (Unix
/// times, Retry-After delta-seconds); nullopt otherwise. `max_digits` is at most 18.
[[nodiscard]] std::optional<std::int64_t> parse_decimal(std::string_view text,
                                                        std::size_t max_digits);

struct Request {
  std::string method = "POST";
  std::string url;  // request target ("/hook/abc?x=1") or absolute URL
  std::vector<HttpHeader> headers;
  std::string body;  // raw bytes as received

  /// First header with this name, compared case-insensitively (ASCII). The value is returned as
  /// stored, without trimming.
  [[nodiscard]] std::optional<std::string_view> header(std::string_view name) const;
};

}  // namespace callhook
