// A small C++ layer over the Fastly Compute hostcalls (abi.h): owned strings in, owned strings
// out, every status checked and returned, never ignored. No exceptions: each call returns a
// Result that holds either its value or the Error naming the hostcall and its status.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "callhook/http.h"

namespace callhook::fastly {

using Handle = std::uint32_t;

/// $fastly_status (typenames.witx).
enum class Status : std::uint32_t {
  ok,
  error,
  inval,
  badf,
  buflen,
  unsupported,
  badalign,
  httpinvalid,
  httpuser,
  httpincomplete,
  none,
  httpheadtoolarge,
  httpinvalidstatus,
  limitexceeded,
  again,
};

/// $kv_error (typenames.witx).
enum class KvError : std::uint32_t {
  uninitialized,
  ok,
  bad_request,
  not_found,
  precondition_failed,
  payload_too_large,
  internal_error,
  too_many_requests,
};

[[nodiscard]] std::string_view to_string(Status status);
[[nodiscard]] std::string_view to_string(KvError error);

/// A hostcall that did not succeed: which one, its status, and the KV error when it has one.
struct Error {
  std::string_view call;
  Status status = Status::error;
  KvError kv = KvError::uninitialized;
  /// "fastly_kv_store.insert_wait: precondition_failed" and the like.
  [[nodiscard]] std::string message() const;
};

/// A value or the Error that prevented it.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Error error) : error_(error) {}         // NOLINT(google-explicit-constructor)
  explicit operator bool() const { return value_.has_value(); }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  [[nodiscard]] const Error& error() const { return error_; }

 private:
  std::optional<T> value_;
  Error error_;
};

/// A status-only result: ok() or the Error.
class [[nodiscard]] Outcome {
 public:
  Outcome() = default;
  Outcome(Error error) : error_(error), failed_(true) {}  // NOLINT(google-explicit-constructor)
  explicit operator bool() const { return !failed_; }
  [[nodiscard]] const Error& error() const { return error_; }

 private:
  Error error_;
  bool failed_ = false;
};

/// fastly_abi.init(1): must come before any other hostcall.
Outcome init();

/// The request the service received, read whole: method, URL, headers (in order, one entry per
/// value) and the body, refusing bodies over `max_body_bytes` with Status::limitexceeded.
struct DownstreamRequest {
  std::string method;
  std::string url;
  std::vector<HttpHeader> headers;
  std::string body;
};
Result<DownstreamRequest> read_downstream_request(std::size_t max_body_bytes);

/// Sends the response to the client. The program may go on working afterwards (deliveries);
/// the client has its answer already.
Outcome send_downstream(int status, const std::vector<HttpHeader>& headers, std::string_view body);

/// What a backend answered: the status and its Retry-After header ("" when absent).
struct BackendResponse {
  int status = 0;
  std::vector<HttpHeader> headers;  // the ones the core reads: Retry-After, Location
  std::string body;                 // the first kMaxAnswerBytes of it
};
inline constexpr std::size_t kMaxAnswerBytes = std::size_t{64} << 10;
/// Sends one request to a named backend (declared on the service, or in fastly.toml's
/// [local_server.backends] locally) and waits for its answer. Past kMaxAnswerBytes the body is
/// read off (up to 1 MiB, so the connection can be reused) and dropped.
Result<BackendResponse> send_to_backend(std::string_view backend, std::string_view method,
                                        std::string_view url,
                                        const std::vector<HttpHeader>& headers,
                                        std::string_view body);

/// A log endpoint (a logging integration on the service).
class LogEndpoint {
 public:
  static Result<LogEndpoint> open(std::string_view name);
  Outcome write(std::string_view line) const;

 private:
  explicit LogEndpoint(Handle handle) : handle_(handle) {}
  Handle handle_;
};

/// A Config Store: a small string map linked to the service.
class ConfigStore {
 public:
  static Result<ConfigStore> open(std::string_view name);
  /// The value, or nullopt when the key is absent.
  Result<std::optional<std::string>> get(std::string_view key) const;

 private:
  explicit ConfigStore(Handle handle) : handle_(handle) {}
  Handle handle_;
};

/// A Secret Store: values read in plaintext only when needed.
class SecretStore {
 public:
  static Result<SecretStore> open(std::string_view name);
  /// The plaintext, or nullopt when the secret is absent.
  Result<std::optional<std::string>> get(std::string_view key) const;

 private:
  explicit SecretStore(Handle handle) : handle_(handle) {}
  Handle handle_;
};

/// A KV Store with generation-match writes, which make compare-and-set possible.
class KvStore {
 public:
  struct Entry {
    std::string value;
    std::uint64_t generation = 0;
  };
  enum class Mode : std::uint32_t { overwrite, add };
  struct Write {
    Mode mode = Mode::overwrite;
    std::optional<std::uint64_t> if_generation_match;  // write only over this generation
    std::uint32_t ttl_seconds = 0;                     // 0: keep until deleted
  };
  struct Page {
    std::vector<std::string> keys;
    std::string next_cursor;  // "" on the last page
  };

  static Result<KvStore> open(std::string_view name);
  /// The value and its generation, or nullopt when the key is absent.
  Result<std::optional<Entry>> lookup(std::string_view key) const;
  /// True when written; false when the precondition failed (`add` over an existing key, or a
  /// generation that no longer matches).
  Result<bool> insert(std::string_view key, std::string_view value, const Write& how) const;
  /// Deletes a key; absent keys are not an error.
  Outcome remove(std::string_view key) const;
  /// Up to `limit` keys starting with `prefix`, in key order, from `cursor` on.
  Result<Page> list(std::string_view prefix, std::uint32_t limit,
                    std::string_view cursor = {}) const;

 private:
  explicit KvStore(Handle handle) : handle_(handle) {}
  Handle handle_;
};

/// Now, in seconds since the Unix epoch (WASI's realtime clock).
std::int64_t now_seconds();
/// Now, in milliseconds since the Unix epoch.
std::int64_t now_ms();
/// A number in [0, 1) from WASI's random source.
double random_unit();

}  // namespace callhook::fastly
