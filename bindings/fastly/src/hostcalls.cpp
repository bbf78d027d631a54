#include "callhook/fastly/hostcalls.h"

#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <nlohmann/json.hpp>

#include "callhook/fastly/abi.h"

namespace callhook::fastly {
namespace {

namespace raw = abi;

constexpr std::size_t kMaxValueBytes = std::size_t{8} << 20;  // largest string read from a hostcall

Error failure(std::string_view call, raw::StatusCode status) {
  return Error{call, static_cast<Status>(status), KvError::uninitialized};
}

Error kv_failure(std::string_view call, std::uint32_t kv) {
  return Error{call, Status::error, static_cast<KvError>(kv)};
}

// Calls `fill(buffer, capacity, &written)` until the value fits: on `buflen` the host tells the
// size it needs in `written` (or, when it does not, the buffer doubles).
template <class Fill>
Result<std::string> read_string(std::string_view call, std::size_t capacity, Fill fill) {
  std::string buffer;
  for (;;) {
    buffer.resize(capacity);
    std::size_t written = 0;
    const raw::StatusCode status = fill(buffer.data(), buffer.size(), &written);
    if (status == static_cast<raw::StatusCode>(Status::ok)) {
      if (written > buffer.size())
        return failure(call, static_cast<raw::StatusCode>(Status::error));
      buffer.resize(written);
      return buffer;
    }
    if (status != static_cast<raw::StatusCode>(Status::buflen) || capacity >= kMaxValueBytes) {
      return failure(call, status);
    }
    capacity = written > capacity ? written : capacity * 2;
  }
}

// A list of NUL-terminated strings read with a cursor (header names, header values).
template <class Fill>
Result<std::vector<std::string>> read_multi(std::string_view call, Fill fill) {
  std::vector<std::string> items;
  std::string buffer(4096, '\0');
  std::uint32_t cursor = 0;
  for (;;) {
    std::int64_t ending = -1;
    std::size_t written = 0;
    const raw::StatusCode status = fill(buffer.data(), buffer.size(), cursor, &ending, &written);
    if (status == static_cast<raw::StatusCode>(Status::buflen) && buffer.size() < kMaxValueBytes) {
      buffer.resize(written > buffer.size() ? written : buffer.size() * 2);
      continue;
    }
    if (status == static_cast<raw::StatusCode>(Status::none)) return items;
    if (status != static_cast<raw::StatusCode>(Status::ok) || written > buffer.size()) {
      return failure(call, status);
    }
    std::size_t start = 0;
    for (std::size_t i = 0; i < written; ++i) {
      if (buffer[i] == '\0') {
        items.emplace_back(buffer.data() + start, i - start);
        start = i + 1;
      }
    }
    if (ending < 0) return items;
    if (static_cast<std::uint64_t>(ending) <= cursor) {  // a host that does not move on
      return failure(call, static_cast<raw::StatusCode>(Status::error));
    }
    cursor = static_cast<std::uint32_t>(ending);
  }
}

// Reads a body to its end; Status::limitexceeded past `limit` bytes.
Result<std::string> read_body(raw::Handle body, std::size_t limit) {
  std::string out;
  std::uint8_t chunk[16384];
  for (;;) {
    std::size_t got = 0;
    const raw::StatusCode status = raw::body_read(body, chunk, sizeof chunk, &got);
    if (status != 0) return failure("fastly_http_body.read", status);
    if (got == 0) return out;
    if (got > sizeof chunk) return failure("fastly_http_body.read", 1);
    if (out.size() + got > limit) return Error{"fastly_http_body.read", Status::limitexceeded};
    out.append(reinterpret_cast<const char*>(chunk), got);
  }
}

Outcome write_body(raw::Handle body, std::string_view bytes) {
  while (!bytes.empty()) {
    std::size_t written = 0;
    const raw::StatusCode status =
        raw::body_write(body, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(),
                        0 /* back */, &written);
    if (status != 0) return failure("fastly_http_body.write", status);
    if (written == 0 || written > bytes.size()) return failure("fastly_http_body.write", 1);
    bytes.remove_prefix(written);
  }
  return {};
}

Result<raw::Handle> body_with(std::string_view bytes) {
  raw::Handle body = 0;
  if (const auto status = raw::body_new(&body); status != 0) {
    return failure("fastly_http_body.new", status);
  }
  if (auto written = write_body(body, bytes); !written) return written.error();
  return body;
}

Result<raw::Handle> open_named(std::string_view call, std::string_view name,
                               raw::StatusCode (*open)(const char*, std::size_t, raw::Handle*)) {
  raw::Handle handle = 0;
  if (const auto status = open(name.data(), name.size(), &handle); status != 0) {
    return failure(call, status);
  }
  return handle;
}

}  // namespace

std::string_view to_string(Status status) {
  static constexpr std::string_view kNames[] = {"ok",
                                                "error",
                                                "inval",
                                                "badf",
                                                "buflen",
                                                "unsupported",
                                                "badalign",
                                                "httpinvalid",
                                                "httpuser",
                                                "httpincomplete",
                                                "none",
                                                "httpheadtoolarge",
                                                "httpinvalidstatus",
                                                "limitexceeded",
                                                "again"};
  const auto i = static_cast<std::size_t>(status);
  return i < std::size(kNames) ? kNames[i] : "unknown";
}

std::string_view to_string(KvError error) {
  static constexpr std::string_view kNames[] = {"uninitialized",       "ok",
                                                "bad_request",         "not_found",
                                                "precondition_failed", "payload_too_large",
                                                "internal_error",      "too_many_requests"};
  const auto i = static_cast<std::size_t>(error);
  return i < std::size(kNames) ? kNames[i] : "unknown";
}

std::string Error::message() const {
  std::string text(call);
  text += ": ";
  text += kv != KvError::uninitialized ? to_string(kv) : to_string(status);
  return text;
}

Outcome init() {
  if (const auto status = raw::fastly_abi_init(1); status != 0) {
    return failure("fastly_abi.init", status);
  }
  return {};
}

Result<DownstreamRequest> read_downstream_request(std::size_t max_body_bytes) {
  raw::Handle req = 0;
  raw::Handle body = 0;
  if (const auto status = raw::req_body_downstream_get(&req, &body); status != 0) {
    return failure("fastly_http_req.body_downstream_get", status);
  }
  DownstreamRequest out;
  auto method = read_string(
      "fastly_http_req.method_get", 16,
      [&](char* b, std::size_t n, std::size_t* w) { return raw::req_method_get(req, b, n, w); });
  if (!method) return method.error();
  out.method = std::move(*method);
  auto url = read_string(
      "fastly_http_req.uri_get", 1024,
      [&](char* b, std::size_t n, std::size_t* w) { return raw::req_uri_get(req, b, n, w); });
  if (!url) return url.error();
  out.url = std::move(*url);
  auto names =
      read_multi("fastly_http_req.header_names_get",
                 [&](char* b, std::size_t n, std::uint32_t c, std::int64_t* e, std::size_t* w) {
                   return raw::req_header_names_get(req, b, n, c, e, w);
                 });
  if (!names) return names.error();
  for (const std::string& name : *names) {
    auto values = read_multi(
        "fastly_http_req.header_values_get",
        [&](char* b, std::size_t n, std::uint32_t c, std::int64_t* e, std::size_t* w) {
          return raw::req_header_values_get(req, name.data(), name.size(), b, n, c, e, w);
        });
    if (!values) return values.error();
    for (std::string& value : *values) out.headers.push_back({name, std::move(value)});
  }
  auto bytes = read_body(body, max_body_bytes);
  if (!bytes) return bytes.error();
  out.body = std::move(*bytes);
  return out;
}

Outcome send_downstream(int status, const std::vector<HttpHeader>& headers, std::string_view body) {
  raw::Handle resp = 0;
  if (const auto s = raw::resp_new(&resp); s != 0) return failure("fastly_http_resp.new", s);
  if (const auto s = raw::resp_status_set(resp, static_cast<std::uint32_t>(status)); s != 0) {
    return failure("fastly_http_resp.status_set", s);
  }
  for (const HttpHeader& h : headers) {
    if (const auto s = raw::resp_header_append(resp, h.name.data(), h.name.size(), h.value.data(),
                                               h.value.size());
        s != 0) {
      return failure("fastly_http_resp.header_append", s);
    }
  }
  auto handle = body_with(body);
  if (!handle) return handle.error();
  if (const auto s = raw::resp_send_downstream(resp, *handle, 0); s != 0) {
    return failure("fastly_http_resp.send_downstream", s);
  }
  return {};
}

Result<BackendResponse> send_to_backend(std::string_view backend, std::string_view method,
                                        std::string_view url,
                                        const std::vector<HttpHeader>& headers,
                                        std::string_view body) {
  raw::Handle req = 0;
  if (const auto s = raw::req_new(&req); s != 0) return failure("fastly_http_req.new", s);
  if (const auto s = raw::req_method_set(req, method.data(), method.size()); s != 0) {
    return failure("fastly_http_req.method_set", s);
  }
  if (const auto s = raw::req_uri_set(req, url.data(), url.size()); s != 0) {
    return failure("fastly_http_req.uri_set", s);
  }
  for (const HttpHeader& h : headers) {
    if (const auto s = raw::req_header_append(req, h.name.data(), h.name.size(), h.value.data(),
                                              h.value.size());
        s != 0) {
      return failure("fastly_http_req.header_append", s);
    }
  }
  auto request_body = body_with(body);
  if (!request_body) return request_body.error();
  raw::Handle resp = 0;
  raw::Handle resp_body = 0;
  if (const auto s =
          raw::req_send(req, *request_body, backend.data(), backend.size(), &resp, &resp_body);
      s != 0) {
    return failure("fastly_http_req.send", s);
  }
  BackendResponse out;
  std::uint16_t status = 0;
  if (const auto s = raw::resp_status_get(resp, &status); s != 0) {
    return failure("fastly_http_resp.status_get", s);
  }
  out.status = status;
  for (const std::string_view name :
       {std::string_view("retry-after"), std::string_view("location")}) {
    char value[256];
    std::size_t written = 0;
    const auto s =
        raw::resp_header_value_get(resp, name.data(), name.size(), value, sizeof value, &written);
    if (s == 0 && written <= sizeof value) {
      out.headers.push_back({std::string(name), std::string(value, written)});
    } else if (s != static_cast<raw::StatusCode>(Status::none) &&
               s != static_cast<raw::StatusCode>(Status::buflen)) {
      return failure("fastly_http_resp.header_value_get", s);
    }
  }
  // The core may read the answer (a Google Ads 200 can refuse rows); the rest is read off,
  // bounded, so the connection can be reused.
  std::uint8_t chunk[16384];
  for (std::size_t total = 0; total < (std::size_t{1} << 20);) {
    std::size_t got = 0;
    if (const auto s = raw::body_read(resp_body, chunk, sizeof chunk, &got); s != 0) {
      return failure("fastly_http_body.read", s);
    }
    if (got == 0 || got > sizeof chunk) break;
    if (out.body.size() < kMaxAnswerBytes) {
      out.body.append(reinterpret_cast<const char*>(chunk),
                      std::min(got, kMaxAnswerBytes - out.body.size()));
    }
    total += got;
  }
  if (const auto c = raw::body_close(resp_body); c != 0)
    return failure("fastly_http_body.close", c);
  if (const auto c = raw::resp_close(resp); c != 0) return failure("fastly_http_resp.close", c);
  return out;
}

Result<LogEndpoint> LogEndpoint::open(std::string_view name) {
  auto handle = open_named("fastly_log.endpoint_get", name, raw::log_endpoint_get);
  if (!handle) return handle.error();
  return LogEndpoint(*handle);
}

Outcome LogEndpoint::write(std::string_view line) const {
  std::size_t written = 0;
  if (const auto s = raw::log_write(handle_, line.data(), line.size(), &written); s != 0) {
    return failure("fastly_log.write", s);
  }
  return {};
}

Result<ConfigStore> ConfigStore::open(std::string_view name) {
  auto handle = open_named("fastly_config_store.open", name, raw::config_store_open);
  if (!handle) return handle.error();
  return ConfigStore(*handle);
}

Result<std::optional<std::string>> ConfigStore::get(std::string_view key) const {
  auto value =
      read_string("fastly_config_store.get", 8192, [&](char* b, std::size_t n, std::size_t* w) {
        return raw::config_store_get(handle_, key.data(), key.size(), b, n, w);
      });
  if (!value) {
    if (value.error().status == Status::none) return std::optional<std::string>{};
    return value.error();
  }
  return std::optional<std::string>(std::move(*value));
}

Result<SecretStore> SecretStore::open(std::string_view name) {
  auto handle = open_named("fastly_secret_store.open", name, raw::secret_store_open);
  if (!handle) return handle.error();
  return SecretStore(*handle);
}

Result<std::optional<std::string>> SecretStore::get(std::string_view key) const {
  raw::Handle secret = 0;
  const auto s = raw::secret_store_get(handle_, key.data(), key.size(), &secret);
  if (s == static_cast<raw::StatusCode>(Status::none)) return std::optional<std::string>{};
  if (s != 0) return failure("fastly_secret_store.get", s);
  auto value = read_string("fastly_secret_store.plaintext", 256,
                           [&](char* b, std::size_t n, std::size_t* w) {
                             return raw::secret_plaintext(secret, b, n, w);
                           });
  if (!value) return value.error();
  return std::optional<std::string>(std::move(*value));
}

Result<KvStore> KvStore::open(std::string_view name) {
  auto handle = open_named("fastly_kv_store.open", name, raw::kv_open);
  if (!handle) return handle.error();
  return KvStore(*handle);
}

Result<std::optional<KvStore::Entry>> KvStore::lookup(std::string_view key) const {
  raw::Handle pending = 0;
  if (const auto s = raw::kv_lookup(handle_, key.data(), key.size(), 0, nullptr, &pending);
      s != 0) {
    return failure("fastly_kv_store.lookup", s);
  }
  raw::Handle body = 0;
  char metadata[1];
  std::size_t metadata_len = 0;
  std::uint64_t generation = 0;
  std::uint32_t kv = 0;
  const auto s =
      raw::kv_lookup_wait_v2(pending, &body, metadata, 0, &metadata_len, &generation, &kv);
  if (kv == static_cast<std::uint32_t>(KvError::not_found) ||
      s == static_cast<raw::StatusCode>(Status::none)) {
    return std::optional<Entry>{};
  }
  // Values are stored without metadata; a host that reports some anyway answers buflen.
  if (s != 0 && s != static_cast<raw::StatusCode>(Status::buflen)) {
    return failure("fastly_kv_store.lookup_wait_v2", s);
  }
  if (kv != static_cast<std::uint32_t>(KvError::ok))
    return kv_failure("fastly_kv_store.lookup_wait_v2", kv);
  auto value = read_body(body, kMaxValueBytes);
  if (!value) return value.error();
  if (const auto c = raw::body_close(body); c != 0) return failure("fastly_http_body.close", c);
  return std::optional<Entry>(Entry{std::move(*value), generation});
}

Result<bool> KvStore::insert(std::string_view key, std::string_view value, const Write& how) const {
  auto body = body_with(value);
  if (!body) return body.error();
  constexpr std::uint32_t kTimeToLive = 1U << 4;
  constexpr std::uint32_t kIfGenerationMatch = 1U << 5;
  raw::KvInsertConfig config;
  std::uint32_t mask = 0;
  config.mode = static_cast<std::uint32_t>(how.mode);
  if (how.ttl_seconds > 0) {
    mask |= kTimeToLive;
    config.time_to_live_sec = how.ttl_seconds;
  }
  if (how.if_generation_match) {
    mask |= kIfGenerationMatch;
    config.if_generation_match = *how.if_generation_match;
  }
  raw::Handle pending = 0;
  if (const auto s =
          raw::kv_insert(handle_, key.data(), key.size(), *body, mask, &config, &pending);
      s != 0) {
    return failure("fastly_kv_store.insert", s);
  }
  std::uint32_t kv = 0;
  const auto s = raw::kv_insert_wait(pending, &kv);
  if (kv == static_cast<std::uint32_t>(KvError::precondition_failed)) return false;
  if (s != 0) return failure("fastly_kv_store.insert_wait", s);
  if (kv != static_cast<std::uint32_t>(KvError::ok))
    return kv_failure("fastly_kv_store.insert_wait", kv);
  return true;
}

Outcome KvStore::remove(std::string_view key) const {
  raw::Handle pending = 0;
  if (const auto s = raw::kv_delete(handle_, key.data(), key.size(), 0, nullptr, &pending);
      s != 0) {
    return failure("fastly_kv_store.delete", s);
  }
  std::uint32_t kv = 0;
  const auto s = raw::kv_delete_wait(pending, &kv);
  if (kv == static_cast<std::uint32_t>(KvError::not_found)) return {};
  if (s != 0) return failure("fastly_kv_store.delete_wait", s);
  if (kv != static_cast<std::uint32_t>(KvError::ok))
    return kv_failure("fastly_kv_store.delete_wait", kv);
  return {};
}

Result<KvStore::Page> KvStore::list(std::string_view prefix, std::uint32_t limit,
                                    std::string_view cursor) const {
  constexpr std::uint32_t kCursor = 1U << 1;
  constexpr std::uint32_t kLimit = 1U << 2;
  constexpr std::uint32_t kPrefix = 1U << 3;
  raw::KvListConfig config;
  std::uint32_t mask = kLimit | kPrefix;
  config.limit = limit;
  config.prefix = prefix.data();
  config.prefix_len = static_cast<std::uint32_t>(prefix.size());
  if (!cursor.empty()) {
    mask |= kCursor;
    config.cursor = cursor.data();
    config.cursor_len = static_cast<std::uint32_t>(cursor.size());
  }
  raw::Handle pending = 0;
  if (const auto s = raw::kv_list(handle_, mask, &config, &pending); s != 0) {
    return failure("fastly_kv_store.list", s);
  }
  raw::Handle body = 0;
  std::uint32_t kv = 0;
  const auto s = raw::kv_list_wait(pending, &body, &kv);
  if (s != 0) return failure("fastly_kv_store.list_wait", s);
  if (kv != static_cast<std::uint32_t>(KvError::ok))
    return kv_failure("fastly_kv_store.list_wait", kv);
  auto text = read_body(body, kMaxValueBytes);
  if (!text) return text.error();
  if (const auto c = raw::body_close(body); c != 0) return failure("fastly_http_body.close", c);
  // {"data": ["key", ...], "meta": {"next_cursor": "...", "limit": N}}
  const nlohmann::json doc = nlohmann::json::parse(*text, nullptr, false);
  Page page;
  if (!doc.is_object()) return Error{"fastly_kv_store.list_wait", Status::error};
  if (const auto data = doc.find("data"); data != doc.end() && data->is_array()) {
    for (const auto& key : *data) {
      if (key.is_string()) page.keys.push_back(key.get<std::string>());
    }
  }
  if (const auto meta = doc.find("meta"); meta != doc.end() && meta->is_object()) {
    if (const auto next = meta->find("next_cursor"); next != meta->end() && next->is_string()) {
      page.next_cursor = next->get<std::string>();
    }
  }
  return page;
}

std::int64_t now_seconds() {
  timespec ts{};
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return 0;
  return static_cast<std::int64_t>(ts.tv_sec);
}

std::int64_t now_ms() {
  timespec ts{};
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return 0;
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

double random_unit() {
  std::uint32_t bits = 0;
  if (getentropy(&bits, sizeof bits) != 0) return 0.5;  // no jitter rather than no delivery
  return static_cast<double>(bits) / 4294967296.0;
}

}  // namespace callhook::fastly
