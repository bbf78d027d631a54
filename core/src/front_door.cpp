#include "callhook/front_door.h"

#include <array>

#include "crypto.h"
#include "json_writer.h"
#include "text_util.h"

namespace callhook {
namespace {

struct RefusalInfo {
  Refusal refusal;
  std::string_view kind;
  std::string_view code;
  int status;
  std::string_view title;
  std::string_view detail;       // the default detail
  std::string_view retry_after;  // empty: none
};

// One row per refusal: the table in the README ("The engine", problem types) is this one.
constexpr std::array<RefusalInfo, 18> kRefusals{{
    {Refusal::not_found, "not-found", "not_found", 404, "Not found",
     "Webhooks are received at /hook (or /hook/TOKEN when a path token is configured).", ""},
    {Refusal::method_not_allowed, "method-not-allowed", "method_not_allowed", 405,
     "Method not allowed", "Webhooks are received by GET or POST.", ""},
    {Refusal::bad_request, "bad-request", "bad_request", 400, "Bad request",
     "The request target or its Host header is not valid.", ""},
    {Refusal::body_too_large, "body-too-large", "body_too_large", 413,
     "The request body is too large", "The request body is larger than this service accepts.", ""},
    {Refusal::headers_too_large, "headers-too-large", "headers_too_large", 431,
     "The request headers are too large",
     "The request headers are larger than this service "
     "accepts.",
     ""},
    {Refusal::request_timeout, "request-timeout", "request_timeout", 408,
     "The request was not received in time", "The request was not sent in time; send it again.",
     ""},
    {Refusal::store_unavailable, "store-unavailable", "store_unavailable", 503,
     "The record store is unavailable", "The call's record could not be read or stored; retry.",
     "5"},
    {Refusal::outbox_unavailable, "outbox-unavailable", "outbox_unavailable", 503,
     "The deliveries could not be persisted",
     "The webhook's deliveries could not be persisted; retry.", "5"},
    {Refusal::outbox_full, "outbox-full", "outbox_full", 503, "Too many deliveries are waiting",
     "Too many deliveries are waiting to be sent; the webhook was not accepted. Retry later.",
     "30"},
    {Refusal::conflict, "conflict", "conflict", 503, "The call's record is being changed",
     "The call's record is being changed concurrently; retry.", "1"},
    {Refusal::config_unavailable, "config-unavailable", "config_unavailable", 503,
     "The config is unavailable", "The service's config could not be read; retry.", "5"},
    {Refusal::config_invalid, "config-invalid", "config_invalid", 503, "The config is invalid",
     "The service's config cannot be used; retry later.", "60"},
    {Refusal::internal_error, "internal-error", "internal_error", 503,
     "The request could not be handled",
     "The request could not be handled; it was not accepted. Retry.", "5"},
    {Refusal::shutting_down, "shutting-down", "shutting_down", 503, "The service is shutting down",
     "This instance is shutting down; retry.", "1"},
    {Refusal::overloaded, "overloaded", "overloaded", 503, "The service is overloaded",
     "This instance is at its connection limit; retry shortly.", "5"},
    {Refusal::unauthorized, "unauthorized", "unauthorized", 401, "Unauthorized",
     "The admin API needs its token: send Authorization: Bearer <token>.", ""},
    {Refusal::bad_admin_request, "bad-admin-request", "bad_admin_request", 400, "Bad admin request",
     "The admin request is not one the admin API takes.", ""},
    {Refusal::dead_letter_not_found, "dead-letter-not-found", "dead_letter_not_found", 404,
     "Dead letter not found", "No dead letter has that id.", ""},
}};

const RefusalInfo& info(Refusal refusal) {
  for (const RefusalInfo& row : kRefusals) {
    if (row.refusal == refusal) return row;
  }
  return kRefusals[0];
}

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view text) {
  if (text.empty()) return false;
  for (const char c : text) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

bool is_control_or_space(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u <= 0x20 || u == 0x7f;
}

bool valid_host(std::string_view host) {
  if (host.empty()) return false;
  for (const char c : host) {
    if (is_control_or_space(c) || c == '/' || c == '\\' || c == '?' || c == '#' || c == '@') {
      return false;
    }
  }
  return true;
}

bool valid_scheme(std::string_view scheme) {
  if (scheme.empty()) return false;
  const auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (!alpha(scheme.front())) return false;
  for (const char c : scheme) {
    if (!alpha(c) && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.') return false;
  }
  return true;
}

FrontDoorRoute refused(Refusal refusal, std::string_view detail) {
  FrontDoorRoute r;
  r.endpoint = Endpoint::refused;
  r.response = callhook::refusal(refusal, detail);
  return r;
}

// A 405 naming the methods the endpoint at `path` answers.
FrontDoorRoute not_allowed(std::string path, std::string_view allow, std::string_view detail) {
  FrontDoorRoute no = refused(Refusal::method_not_allowed, detail);
  for (HttpHeader& h : no.response.headers) {
    if (h.name == "Allow") h.value = std::string(allow);
  }
  no.path = std::move(path);
  return no;
}

bool is_space_or_tab(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim_spaces(std::string_view text) {
  while (!text.empty() && is_space_or_tab(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space_or_tab(text.back())) text.remove_suffix(1);
  return text;
}

// The token of `Bearer <token>` (RFC 6750: the scheme in any case, then spaces); empty when the
// header is not of that form.
std::string_view bearer_token(std::string_view authorization) {
  const std::string_view value = trim_spaces(authorization);
  const auto space = value.find_first_of(" \t");
  if (space == std::string_view::npos || !detail::iequals(value.substr(0, space), "Bearer")) {
    return {};
  }
  const std::string_view token = trim_spaces(value.substr(space));
  return token.find_first_of(" \t") == std::string_view::npos ? token : std::string_view();
}

}  // namespace

std::optional<std::string_view> target_path(std::string_view target) {
  for (const char c : target) {
    if (is_control_or_space(c)) return std::nullopt;
  }
  std::string_view path = target;
  if (!target.starts_with('/')) {
    const auto colon = target.find("://");
    if (colon == std::string_view::npos || !valid_scheme(target.substr(0, colon))) {
      return std::nullopt;
    }
    const std::string_view rest = target.substr(colon + 3);
    const auto end = rest.find_first_of("/?#");
    const std::string_view authority = rest.substr(0, end);
    if (!valid_host(authority)) return std::nullopt;
    if (end == std::string_view::npos || rest[end] != '/') return std::string_view("/");
    path = rest.substr(end);
  }
  return path.substr(0, path.find_first_of("?#"));
}

std::optional<Refusal> parse_refusal(std::string_view kind) {
  for (const RefusalInfo& row : kRefusals) {
    if (row.kind == kind) return row.refusal;
  }
  return std::nullopt;
}

std::string_view refusal_kind(Refusal refusal) {
  return info(refusal).kind;
}

Response refusal(Refusal refusal, std::string_view detail) {
  const RefusalInfo& row = info(refusal);
  Response r = problem(row.status, row.kind, row.title, detail.empty() ? row.detail : detail,
                       nullptr, nullptr, row.code);
  if (refusal == Refusal::method_not_allowed) r.headers.push_back({"Allow", "GET, POST"});
  if (refusal == Refusal::unauthorized) {
    r.headers.push_back({"WWW-Authenticate", "Bearer realm=\"callhook-admin\""});
  }
  if (!row.retry_after.empty()) r.headers.push_back({"Retry-After", std::string(row.retry_after)});
  // The connection cannot be trusted to carry another request after these.
  if (refusal == Refusal::body_too_large || refusal == Refusal::headers_too_large ||
      refusal == Refusal::request_timeout || refusal == Refusal::bad_request ||
      refusal == Refusal::shutting_down || refusal == Refusal::overloaded) {
    r.headers.push_back({"Connection", "close"});
  }
  return r;
}

std::string_view endpoint_name(Endpoint endpoint) {
  switch (endpoint) {
    case Endpoint::hook:
      return "hook";
    case Endpoint::healthz:
      return "healthz";
    case Endpoint::metrics:
      return "metrics";
    case Endpoint::assets:
      return "static";
    case Endpoint::admin:
      return "admin";
    case Endpoint::refused:
      break;
  }
  return "refused";
}

FrontDoorRoute route(std::string_view method, std::string_view target,
                     std::optional<std::string_view> host) {
  if (!is_token(method)) return refused(Refusal::bad_request, "The request method is not valid.");
  if (host && !valid_host(*host)) {
    return refused(Refusal::bad_request, "The Host header is not a valid host.");
  }
  const auto path = target_path(target);
  if (!path) {
    return refused(Refusal::bad_request,
                   "The request target is neither a path (origin-form) nor an absolute URL.");
  }
  const bool read = method == "GET" || method == "HEAD";
  FrontDoorRoute r;
  r.path = std::string(*path);
  if (*path == "/hook" || path->starts_with("/hook/")) {
    if (method == "CONNECT" || method == "TRACE" || method == "TRACK") {
      FrontDoorRoute no = refused(Refusal::method_not_allowed, {});
      no.path = std::move(r.path);
      return no;
    }
    r.endpoint = Endpoint::hook;
    return r;
  }
  if (*path == "/admin" || path->starts_with("/admin/")) {
    if (!read && method != "POST" && method != "DELETE") {
      return not_allowed(std::move(r.path), "GET, HEAD, POST, DELETE",
                         "The admin API answers GET, HEAD, POST and DELETE.");
    }
    r.endpoint = Endpoint::admin;
    return r;
  }
  if (*path == "/healthz" || *path == "/metrics") {
    if (!read)
      return not_allowed(std::move(r.path), "GET, HEAD", "This endpoint answers GET and HEAD.");
    r.endpoint = *path == "/healthz" ? Endpoint::healthz : Endpoint::metrics;
    return r;
  }
  if (read) {
    r.endpoint = Endpoint::assets;
    return r;
  }
  FrontDoorRoute no = refused(Refusal::not_found, {});
  no.path = std::move(r.path);
  return no;
}

std::optional<Response> admin_check(std::optional<std::string_view> authorization,
                                    std::string_view configured_token) {
  if (configured_token.empty()) return refusal(Refusal::not_found);
  if (!authorization) return refusal(Refusal::unauthorized);
  const std::string_view presented = bearer_token(*authorization);
  if (presented.empty()) {
    return refusal(Refusal::unauthorized,
                   "The Authorization header is not Bearer <token>: the admin API takes its "
                   "token that way only.");
  }
  // Digests of equal length: the comparison's time tells nothing of the token, not even its size.
  const crypto::Sha256Digest wanted = crypto::sha256(configured_token);
  const crypto::Sha256Digest given = crypto::sha256(presented);
  if (!crypto::constant_time_equal(crypto::char_view(given), crypto::char_view(wanted))) {
    return refusal(Refusal::unauthorized, "The admin token is not the one configured.");
  }
  return std::nullopt;
}

Response health(std::string_view state, std::int64_t pending, std::int64_t dead_letters) {
  Response r;
  r.status = state == "ok" ? 200 : 503;
  r.headers.push_back({"Content-Type", "application/json"});
  r.headers.push_back({"Cache-Control", "no-store"});
  JsonWriter w(r.body);
  w.begin_object().key("status").string(state);
  if (pending >= 0) w.key("pending").number(pending);
  if (dead_letters >= 0) w.key("dead_letters").number(dead_letters);
  w.end_object();
  return r;
}

}  // namespace callhook
