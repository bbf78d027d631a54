// The command-line program's one HTTP client (libcurl, native builds only): the admin commands
// and check-destination send through it. The WASI command has no sockets and no libcurl, so
// there `http_available()` is false and `http_send` never connects.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "callhook/http.h"

namespace callhook::cli {

/// One request to send. Redirects are never followed (credentials go nowhere else).
struct HttpCall {
  std::string method = "GET";
  std::string url;  // http:// or https:// only
  std::vector<HttpHeader> headers;
  bool has_body = false;
  std::string body;
  std::int64_t timeout_ms = 30'000;          // the whole exchange
  std::int64_t connect_timeout_ms = 10'000;  // at most timeout_ms
  /// An answer longer than this is abandoned (a transport error): not the server expected.
  std::size_t max_body = std::size_t{64} << 20;
};

/// What came back: an answer (any status), or why there was none.
struct HttpReply {
  enum class Kind { answered, timeout, transport_error };
  Kind kind = Kind::transport_error;
  long status = 0;
  std::vector<HttpHeader> headers;  // the final answer's, names as received
  std::string body;
  /// No answer: libcurl's words. They may name the host or, for a malformed URL, part of it:
  /// callers that send secrets in URLs redact them before printing.
  std::string error;
};

/// True when this build can send HTTP requests (native, with libcurl).
[[nodiscard]] bool http_available();

[[nodiscard]] HttpReply http_send(const HttpCall& call);

}  // namespace callhook::cli
