// The front door: which endpoint a request is for, and every answer a shell gives on its own
// (not found, body too large, store unavailable, ...), as RFC 9457 documents of the engine's one
// `urn:callhook:problem:<type>` scheme. Engine-independent: a shell can answer with these even
// when its config cannot be built.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "callhook/engine.h"

namespace callhook {

/// A refusal a shell answers without the engine. Each has a fixed status, problem type
/// (`kind`, also `urn:callhook:problem:<kind>`), machine `code` and headers.
enum class Refusal {
  not_found,              // 404: no endpoint at that path
  method_not_allowed,     // 405, Allow: GET, POST
  bad_request,            // 400: a request target that is not origin- or absolute-form, a bad Host
  body_too_large,         // 413: the body (or its declared Content-Length) is past the shell's cap
  headers_too_large,      // 431
  request_timeout,        // 408: the client was too slow sending its request
  store_unavailable,      // 503, Retry-After: 5
  outbox_unavailable,     // 503, Retry-After: 5: the deliveries could not be persisted
  outbox_full,            // 503, Retry-After: 30: pending deliveries are at the shell's cap
  conflict,               // 503, Retry-After: 1: the call's record kept changing under us
  config_unavailable,     // 503, Retry-After: 5: the config could not be read
  config_invalid,         // 503, Retry-After: 60: the config cannot be built into an engine
  internal_error,         // 503, Retry-After: 5: anything unexpected; never a 500 with a trace
  shutting_down,          // 503, Retry-After: 1, Connection: close
  overloaded,             // 503, Retry-After: 5, Connection: close: at the connection limit
  unauthorized,           // 401, WWW-Authenticate: Bearer realm="callhook-admin": the admin API
  bad_admin_request,      // 400: an admin request whose query or body is not one (say why)
  dead_letter_not_found,  // 404: no dead letter has that id (the admin API)
};

/// The refusal named `kind` ("not-found", "body-too-large", ...); nullopt for any other text.
[[nodiscard]] std::optional<Refusal> parse_refusal(std::string_view kind);
/// The refusal's name: its problem type without the urn:callhook:problem: prefix.
[[nodiscard]] std::string_view refusal_kind(Refusal refusal);

/// The refusal as a response: the problem document (its `code` is the kind with underscores),
/// Content-Type application/problem+json and the kind's headers. An empty `detail` takes the
/// kind's default. Details are the shell's words: they must never hold a secret.
[[nodiscard]] Response refusal(Refusal refusal, std::string_view detail = {});

enum class Endpoint {
  hook,     // /hook and /hook/...: the engine decides (its own 405 for other methods)
  healthz,  // GET or HEAD /healthz
  metrics,  // GET or HEAD /metrics
  assets,   // GET or HEAD of any other path: a shell with a playground serves it, or not-found
  admin,    // GET, HEAD, POST or DELETE of /admin and /admin/...: the admin API (admin_check)
  refused,  // `response` holds the refusal
};

[[nodiscard]] std::string_view endpoint_name(Endpoint endpoint);

/// The path of an origin-form ("/hook?x") or absolute-form ("https://host/hook") request target,
/// query and fragment stripped and not percent-decoded; nullopt for any other form, or a target
/// holding spaces or control characters.
[[nodiscard]] std::optional<std::string_view> target_path(std::string_view target);

struct FrontDoorRoute {
  Endpoint endpoint = Endpoint::refused;
  std::string path;   // the target's path, query and fragment stripped, not percent-decoded
  Response response;  // the refusal when `endpoint` is refused
};

/// Routes a request by its method and target (origin-form "/hook?x" or absolute-form
/// "https://host/hook"; for an absolute URL the path after its authority counts). `host` is the
/// Host header when the shell has one: empty or holding '/', '\\', '?', '#', '@', spaces or
/// control characters is a 400, as is any other target form ("*", "host:443") or a method that
/// is not an HTTP token. CONNECT, TRACE and TRACK, which no Fetch runtime can carry, are a 405
/// on /hook; other methods on /hook go to the engine, which answers 405 after authenticating.
/// /admin and /admin/... are the admin endpoint for GET, HEAD, POST and DELETE, a 405 (Allow:
/// GET, HEAD, POST, DELETE) for any other method; the shell then asks admin_check first.
[[nodiscard]] FrontDoorRoute route(std::string_view method, std::string_view target,
                                   std::optional<std::string_view> host = std::nullopt);

/// Whether a request may use the admin API. `authorization` is the request's Authorization
/// header (nullopt: it has none), `configured_token` the shell's admin token (empty: none is
/// configured). nullopt: allowed. Otherwise the answer to give: `not-found` when no token is
/// configured (the admin API does not exist, and says nothing of itself), `unauthorized` when
/// the header is missing, is not `Bearer <token>` (the scheme in any case) or holds another
/// token. The tokens are compared through their SHA-256 digests in constant time, so neither
/// the token nor its length shows in the time taken.
[[nodiscard]] std::optional<Response> admin_check(std::optional<std::string_view> authorization,
                                                  std::string_view configured_token);

/// The /healthz answer: {"status": state, "pending": n, "dead_letters": n} (the counts only when
/// known, i.e. not negative); 200 when `state` is "ok", 503 otherwise ("closing", "error").
[[nodiscard]] Response health(std::string_view state, std::int64_t pending = -1,
                              std::int64_t dead_letters = -1);

}  // namespace callhook
