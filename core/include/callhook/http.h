// The HTTP request as the engine sees it: what a shell received, before any decoding.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace callhook {

struct HttpHeader {
  std::string name;
  std::string value;
};

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
