#include "callhook/auth.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto.h"
#include "callhook/decode.h"
#include "callhook/fields.h"
#include "text_util.h"

namespace callhook {
namespace {

using crypto::char_view;
using crypto::constant_time_equal;

// Decoding for authentication only: the payload's own limits are enforced later, by the decoder
// that builds the event, so nothing here refuses a body for its size.
constexpr Limits kUnlimited{
    std::numeric_limits<std::size_t>::max(), std::numeric_limits<std::size_t>::max(),
    std::numeric_limits<std::size_t>::max(), std::numeric_limits<std::size_t>::max()};

constexpr std::string_view kMissingToken = "missing_token";
constexpr std::string_view kBadToken = "bad_token";
constexpr std::string_view kMissingCredentials = "missing_credentials";
constexpr std::string_view kBadCredentials = "bad_credentials";
constexpr std::string_view kMissingSignature = "missing_signature";
constexpr std::string_view kBadSignature = "bad_signature";
constexpr std::string_view kMalformedSignature = "malformed_signature";
constexpr std::string_view kStaleTimestamp = "stale_timestamp";

bool istarts_with(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && detail::iequals(text.substr(0, prefix.size()), prefix);
}

bool is_ows(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// Header values without the optional whitespace around them (RFC 9110 section 5.5), which is
// not part of the value; a trailing newline from e.g. Ruby's Base64.encode64 goes too.
std::string_view trim(std::string_view text) {
  while (!text.empty() && is_ows(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_ows(text.back())) text.remove_suffix(1);
  return text;
}

// A header's trimmed value, or nullopt when it is absent or blank.
std::optional<std::string_view> header_value(const Request& request, std::string_view name) {
  const std::optional<std::string_view> raw = request.header(name);
  if (!raw) return std::nullopt;
  const std::string_view value = trim(*raw);
  if (value.empty()) return std::nullopt;
  return value;
}

// Unix seconds as plain decimal digits (at most 18, so it fits an int64_t).
std::optional<std::int64_t> parse_epoch(std::string_view text) {
  return parse_decimal(text, 18);
}

// |a - b| <= tolerance without overflow, whatever the signs; a negative tolerance counts as 0.
bool within_tolerance(std::int64_t a, std::int64_t b, std::int64_t tolerance) {
  const auto ua = static_cast<std::uint64_t>(a);
  const auto ub = static_cast<std::uint64_t>(b);
  const std::uint64_t distance = a >= b ? ua - ub : ub - ua;  // exact modulo 2^64, fits
  const std::uint64_t limit = tolerance < 0 ? 0 : static_cast<std::uint64_t>(tolerance);
  return distance <= limit;
}

// ---------------------------------------------------------------------------------------------
// URLs

// An absolute URL's "scheme://authority", or empty for a request target.
std::string_view origin_of(std::string_view url) {
  const std::size_t sep = url.find("://");
  if (sep == std::string_view::npos || sep == 0) return {};
  for (std::size_t i = 0; i < sep; ++i) {
    const char c = url[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool other = (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
    if (!alpha && !(i > 0 && other)) return {};
  }
  const std::size_t end = url.find_first_of("/?#", sep + 3);
  return url.substr(0, end == std::string_view::npos ? url.size() : end);
}

struct UrlParts {
  std::string_view origin;  // "scheme://authority" or empty
  std::string_view path;    // up to '?' or '#'
  std::string_view query;   // without the '?', up to '#'
  bool has_query = false;
  std::string_view fragment;  // with the '#', or empty
};

UrlParts split_url(std::string_view url) {
  UrlParts parts;
  parts.origin = origin_of(url);
  std::string_view rest = url.substr(parts.origin.size());
  const std::size_t hash = rest.find('#');
  if (hash != std::string_view::npos) {
    parts.fragment = rest.substr(hash);
    rest = rest.substr(0, hash);
  }
  const std::size_t question = rest.find('?');
  if (question != std::string_view::npos) {
    parts.query = rest.substr(question + 1);
    parts.has_query = true;
    rest = rest.substr(0, question);
  }
  parts.path = rest;
  return parts;
}

std::string join_url(const UrlParts& parts, std::string_view path, std::string_view query,
                     bool has_query) {
  std::string out(parts.origin);
  out += path;
  if (has_query) {
    out += '?';
    out += query;
  }
  out += parts.fragment;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Verdicts

struct Verdict {
  std::string_view code;  // empty: passed
  std::string message;
};

Verdict pass() {
  return {};
}

Verdict fail(std::string_view code, std::string message) {
  return {code, std::move(message)};
}

// ---------------------------------------------------------------------------------------------
// Token

Verdict check_path_token(const TokenAuth& auth, std::string_view url, std::string& stripped) {
  const UrlParts parts = split_url(url);
  std::string path;
  path.reserve(parts.path.size());
  bool matched = false;
  bool any_segment = false;
  bool first = true;
  std::size_t pos = 0;
  while (pos <= parts.path.size()) {
    std::size_t slash = parts.path.find('/', pos);
    if (slash == std::string_view::npos) slash = parts.path.size();
    const std::string_view segment = parts.path.substr(pos, slash - pos);
    pos = slash + 1;
    if (!segment.empty()) any_segment = true;
    // Every segment is compared, so the time taken does not say which one matched.
    const bool is_token =
        !auth.token.empty() && !segment.empty() && constant_time_equal(segment, auth.token);
    if (is_token) {
      matched = true;
      continue;
    }
    if (!first) path += '/';
    path += segment;
    first = false;
  }
  if (path.empty() && !parts.path.empty() && parts.path.front() == '/') path = "/";
  if (matched) stripped = join_url(parts, path, parts.query, parts.has_query);
  if (matched) return pass();
  if (!any_segment) return fail(kMissingToken, "The URL path carries no token.");
  return fail(kBadToken, "No segment of the URL path is the expected token.");
}

Verdict check_query_token(const TokenAuth& auth, std::string_view url, std::string& stripped) {
  const UrlParts parts = split_url(url);
  std::string query;
  query.reserve(parts.query.size());
  bool present = false;
  bool matched = false;
  bool first = true;
  FieldList field;
  std::size_t pos = 0;
  while (parts.has_query && pos <= parts.query.size()) {
    std::size_t amp = parts.query.find('&', pos);
    if (amp == std::string_view::npos) amp = parts.query.size();
    const std::string_view piece = parts.query.substr(pos, amp - pos);
    pos = amp + 1;
    field.clear();
    (void)decode_form(piece, kUnlimited, field);  // cannot fail without limits
    if (field.size() == 1 && field.name(0) == auth.param) {
      present = true;
      // Every occurrence is compared, so the time taken does not say which one matched.
      if (!auth.token.empty() && constant_time_equal(field.value(0), auth.token)) matched = true;
      continue;
    }
    if (!first) query += '&';
    query += piece;
    first = false;
  }
  if (present) stripped = join_url(parts, parts.path, query, !first);
  if (matched) return pass();
  if (!present) {
    return fail(kMissingToken, "The URL has no \"" + auth.param + "\" query parameter.");
  }
  return fail(kBadToken, "The \"" + auth.param + "\" query parameter is not the expected token.");
}

// ---------------------------------------------------------------------------------------------
// Basic

Verdict check_basic(const BasicAuth& auth, const Request& request) {
  const std::optional<std::string_view> header = header_value(request, "Authorization");
  if (!header) return fail(kMissingCredentials, "The request has no Authorization header.");
  std::string_view value = *header;
  const std::size_t space = value.find_first_of(" \t");
  if (space == std::string_view::npos || !detail::iequals(value.substr(0, space), "Basic")) {
    return fail(kMissingCredentials, "The Authorization header does not use the Basic scheme.");
  }
  value = trim(value.substr(space));
  const std::optional<std::string> decoded = crypto::base64_decode(value);
  if (!decoded) {
    return fail(kBadCredentials, "The Basic credentials are not valid base64.");
  }
  const std::size_t colon = decoded->find(':');
  if (colon == std::string::npos) {
    return fail(kBadCredentials, "The Basic credentials have no ':' between user and password.");
  }
  const std::string_view presented(*decoded);
  // Both parts are always compared: `&`, not `&&`.
  const bool user_ok = constant_time_equal(presented.substr(0, colon), auth.username);
  const bool password_ok = constant_time_equal(presented.substr(colon + 1), auth.password);
  const bool configured = !auth.username.empty() || !auth.password.empty();
  if (configured & user_ok & password_ok) return pass();
  return fail(kBadCredentials, "The Basic credentials are not the expected ones.");
}

// ---------------------------------------------------------------------------------------------
// Signatures

template <typename Digest>
bool digest_equals(std::string_view presented, const Digest& digest) {
  return constant_time_equal(presented, char_view(digest));
}

std::string prefixed(SignatureScheme scheme, std::string_view text) {
  std::string out(to_string(scheme));
  out += ": ";
  out += text;
  return out;
}

Verdict no_secret(SignatureScheme scheme) {
  return fail(kBadSignature, prefixed(scheme, "no secret is configured, so nothing can pass."));
}

Verdict missing_header(SignatureScheme scheme, std::string_view header) {
  return fail(kMissingSignature,
              prefixed(scheme, "the request has no " + std::string(header) + " header."));
}

// Checks a timestamp header's value against now; nullopt when it is fine.
std::optional<Verdict> check_timestamp(SignatureScheme scheme, std::string_view header,
                                       std::string_view value, std::int64_t tolerance,
                                       std::int64_t now) {
  const std::optional<std::int64_t> when = parse_epoch(value);
  if (!when) {
    return fail(kMalformedSignature,
                prefixed(scheme, "the " + std::string(header) +
                                     " header is not a Unix time in whole seconds."));
  }
  if (!within_tolerance(*when, now, tolerance)) {
    return fail(kStaleTimestamp,
                prefixed(scheme, "the " + std::string(header) + " header is more than " +
                                     std::to_string(tolerance < 0 ? 0 : tolerance) +
                                     " seconds away from the current time."));
  }
  return std::nullopt;
}

// One set of Standard Webhooks headers. The standard grew out of Svix, whose senders name the
// same headers svix-*; the signed content and the checks are the same.
struct StandardWebhooksHeaders {
  std::string_view id;
  std::string_view timestamp;
  std::string_view signature;
};

// In the order they are tried: the standard's names first.
constexpr std::array<StandardWebhooksHeaders, 2> kStandardWebhooksHeaders = {{
    {"webhook-id", "webhook-timestamp", "webhook-signature"},
    {"svix-id", "svix-timestamp", "svix-signature"},
}};

// A header's v1a entries cost an Ed25519 verification each (a fraction of a millisecond): only
// this many are checked, so a header stuffed with entries cannot make a request expensive. Key
// rotation needs two or three.
constexpr std::size_t kMaxAsymmetricEntries = 8;

// Checks one header set whose signature header is present.
Verdict check_standard_webhooks_set(const SignatureAuth& auth, const Request& request,
                                    std::int64_t now, const StandardWebhooksHeaders& names) {
  constexpr SignatureScheme scheme = SignatureScheme::standard_webhooks;
  const std::optional<std::string_view> id = header_value(request, names.id);
  const std::optional<std::string_view> timestamp = header_value(request, names.timestamp);
  const std::optional<std::string_view> signatures = header_value(request, names.signature);
  if (!signatures) return missing_header(scheme, names.signature);
  if (!id) return missing_header(scheme, names.id);
  if (!timestamp) return missing_header(scheme, names.timestamp);
  if (std::optional<Verdict> stale =
          check_timestamp(scheme, names.timestamp, *timestamp, auth.tolerance_seconds, now)) {
    return std::move(*stale);
  }

  // whpk_ + base64: an Ed25519 public key, for v1a entries only. whsec_ + base64, or bare
  // base64: an HMAC key, for v1 entries only. whsk_ is the sender's private key, which a
  // receiver has no business holding.
  std::string_view secret = auth.secret;
  const bool asymmetric = secret.starts_with("whpk_");
  if (secret.starts_with("whsk_")) {
    return fail(kBadSignature, prefixed(scheme,
                                        "the configured secret is a whsk_ signing key; configure "
                                        "its whpk_ public key instead. Nothing can pass."));
  }
  if (asymmetric) {
    secret.remove_prefix(5);
  } else if (secret.starts_with("whsec_")) {
    secret.remove_prefix(6);
  }
  const std::optional<std::string> key = crypto::base64_decode(secret);
  if (asymmetric && (!key || key->size() != 32)) {
    return fail(kBadSignature, prefixed(scheme,
                                        "the configured whpk_ key is not base64 of 32 bytes, so "
                                        "nothing can pass."));
  }
  if (!key || key->empty()) {
    return fail(kBadSignature, prefixed(scheme,
                                        "the configured secret is not base64 after \"whsec_\", so "
                                        "nothing can pass."));
  }
  const std::string_view version = asymmetric ? "v1a" : "v1";

  // The signed content, "id.timestamp.body", in pieces so the body is not copied.
  const std::array<std::string_view, 5> content = {*id, ".", *timestamp, ".", request.body};
  crypto::Sha256Digest expected{};
  if (!asymmetric) {
    crypto::HmacSha256 mac(*key);
    for (const std::string_view piece : content) mac.update(piece);
    expected = mac.finish();
  }

  bool matched = false;
  bool any_decoded = false;
  bool any_malformed = false;
  std::size_t asymmetric_checked = 0;
  std::string_view list = *signatures;
  while (!list.empty()) {
    const std::size_t space = list.find(' ');
    const std::string_view entry = list.substr(0, space);
    list = space == std::string_view::npos ? std::string_view() : list.substr(space + 1);
    if (entry.empty()) continue;
    const std::size_t comma = entry.find(',');
    if (comma == std::string_view::npos) {
      any_malformed = true;
      continue;
    }
    // The other kind (v1 under a whpk_ key, v1a under a whsec_ one) is not ours to check.
    if (entry.substr(0, comma) != version) continue;
    const std::optional<std::string> presented = crypto::base64_decode(entry.substr(comma + 1));
    if (!presented) {
      any_malformed = true;
      continue;
    }
    any_decoded = true;
    if (!asymmetric) {
      if (digest_equals(*presented, expected)) matched = true;
    } else if (!matched && asymmetric_checked < kMaxAsymmetricEntries) {
      ++asymmetric_checked;  // public data: no need to go on once one verifies
      matched = crypto::ed25519_verify(*key, *presented, content);
    }
  }
  if (matched) return pass();
  const std::string header(names.signature);
  if (any_decoded) {
    return fail(kBadSignature, prefixed(scheme, "no " + std::string(version) + " signature in " +
                                                    header + " matches."));
  }
  if (any_malformed) {
    return fail(kMalformedSignature,
                prefixed(scheme, header + " is not a list of \"" + std::string(version) +
                                     ",<base64>\" entries."));
  }
  return fail(kBadSignature,
              prefixed(scheme, header + " holds no " + std::string(version) + " signature" +
                                   (asymmetric ? " (a whpk_ key checks only v1a entries)."
                                               : " (a whsec_ secret checks only v1 entries).")));
}

// Each header set that carries a signature is checked on its own, webhook-* first (a set's id,
// timestamp and signature are never mixed with the other's); either passing is enough. The
// refusal reported is the first set's.
Verdict check_standard_webhooks(const SignatureAuth& auth, const Request& request,
                                std::int64_t now) {
  std::optional<Verdict> refused;
  for (const StandardWebhooksHeaders& names : kStandardWebhooksHeaders) {
    if (!header_value(request, names.signature)) continue;
    Verdict verdict = check_standard_webhooks_set(auth, request, now, names);
    if (verdict.code.empty()) return verdict;
    if (!refused) refused = std::move(verdict);
  }
  if (refused) return std::move(*refused);
  return fail(kMissingSignature,
              prefixed(SignatureScheme::standard_webhooks,
                       "the request has no webhook-signature (or svix-signature) header."));
}

// The port-less and default-port spellings of `url` besides itself, as Twilio's own validators
// try them: a proxy or load balancer may add or drop the port the sender had in its URL.
std::vector<std::string> twilio_url_variants(std::string url) {
  std::vector<std::string> out;
  const std::string_view origin = origin_of(url);
  const std::size_t sep = origin.find("://");
  if (origin.empty() || sep == std::string_view::npos) {
    out.push_back(std::move(url));
    return out;
  }
  const std::string_view scheme = origin.substr(0, sep);
  const std::size_t authority_begin = sep + 3;
  const std::string_view authority = origin.substr(authority_begin);
  const std::size_t at = authority.rfind('@');
  const std::size_t host_begin = at == std::string_view::npos ? 0 : at + 1;
  const std::string_view host_port = authority.substr(host_begin);
  std::size_t colon = std::string_view::npos;
  if (!host_port.empty() && host_port.front() == '[') {
    const std::size_t bracket = host_port.find(']');
    if (bracket != std::string_view::npos && bracket + 1 < host_port.size() &&
        host_port[bracket + 1] == ':') {
      colon = bracket + 1;
    }
  } else {
    colon = host_port.rfind(':');
  }
  std::string other;
  if (colon != std::string_view::npos) {
    const std::string_view port = host_port.substr(colon + 1);
    const bool digits =
        std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (digits) {
      other = url.substr(0, authority_begin + host_begin + colon);
      other += std::string_view(url).substr(origin.size());
    }
  } else if (detail::iequals(scheme, "https") || detail::iequals(scheme, "http")) {
    other = std::string(origin);
    other += detail::iequals(scheme, "https") ? ":443" : ":80";
    other += std::string_view(url).substr(origin.size());
  }
  out.push_back(std::move(url));
  if (!other.empty()) out.push_back(std::move(other));
  return out;
}

// The URL Twilio requested, as well as it can be known here.
std::optional<std::string> twilio_url(const SignatureAuth& auth, const Request& request) {
  const std::string_view origin = origin_of(request.url);
  std::string target(std::string_view(request.url).substr(origin.size()));
  if (target.empty() || (target.front() != '/' && target.front() != '?')) {
    target.insert(0, "/");
  }
  if (!auth.public_url.empty()) {
    std::string_view base = auth.public_url;
    while (!base.empty() && base.back() == '/') base.remove_suffix(1);
    return std::string(base) + target;
  }
  if (!origin.empty()) return request.url;
  const std::optional<std::string_view> host = header_value(request, "Host");
  if (!host) return std::nullopt;
  std::string_view scheme = "https";
  if (const std::optional<std::string_view> proto = header_value(request, "X-Forwarded-Proto")) {
    if (detail::iequals(trim(proto->substr(0, proto->find(','))), "http")) scheme = "http";
  }
  std::string url(scheme);
  url += "://";
  url += *host;
  url += target;
  return url;
}

Verdict check_twilio(const SignatureAuth& auth, const Request& request) {
  constexpr SignatureScheme scheme = SignatureScheme::twilio;
  const std::optional<std::string_view> header = header_value(request, "X-Twilio-Signature");
  if (!header) return missing_header(scheme, "X-Twilio-Signature");
  if (auth.secret.empty()) return no_secret(scheme);
  const std::optional<std::string> presented = crypto::base64_decode(*header);
  if (!presented) {
    return fail(kMalformedSignature, prefixed(scheme, "X-Twilio-Signature is not base64."));
  }
  std::optional<std::string> url = twilio_url(auth, request);
  if (!url) {
    return fail(kBadSignature,
                prefixed(scheme,
                         "the request has neither an absolute URL nor a Host header; "
                         "configure public_url."));
  }

  FieldList query;
  (void)decode_form(query_of(*url), kUnlimited, query);  // cannot fail without limits
  const std::optional<std::string_view> body_hash = query.find("bodySHA256");

  // Form parameters, sorted by name and then value, byte-wise (Twilio's libraries sort by name
  // and, for a repeated name, by value). A JSON body (bodySHA256 in the URL) adds none.
  FieldList params;
  std::vector<std::size_t> order;
  if (!body_hash && !detail::iequals(request.method, "GET")) {
    (void)decode_form(request.body, kUnlimited, params);  // cannot fail without limits
    order.resize(params.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&params](std::size_t a, std::size_t b) {
      const int by_name = params.name(a).compare(params.name(b));
      if (by_name != 0) return by_name < 0;
      return params.value(a) < params.value(b);
    });
  }

  crypto::HmacSha1 mac(auth.secret);
  bool matched = false;
  for (const std::string& candidate : twilio_url_variants(std::move(*url))) {
    mac.update(candidate);
    for (const std::size_t i : order) {
      mac.update(params.name(i));
      mac.update(params.value(i));
    }
    if (digest_equals(*presented, mac.finish())) matched = true;
  }
  if (!matched) {
    return fail(kBadSignature, prefixed(scheme,
                                        "X-Twilio-Signature does not match the URL "
                                        "and parameters."));
  }
  if (body_hash) {
    const std::optional<std::string> wanted = crypto::hex_decode(*body_hash);
    if (!wanted || !digest_equals(*wanted, crypto::sha256(request.body))) {
      return fail(kBadSignature,
                  prefixed(scheme, "the body's SHA-256 is not the URL's bodySHA256."));
    }
  }
  return pass();
}

// base64(HMAC-SHA1(secret, parts...)) in `header`: CallRail and CallTrackingMetrics.
Verdict check_sha1_base64(SignatureScheme scheme, const SignatureAuth& auth,
                          std::string_view header, std::string_view signature,
                          std::string_view signed_prefix, std::string_view body) {
  if (auth.secret.empty()) return no_secret(scheme);
  const std::optional<std::string> presented = crypto::base64_decode(signature);
  if (!presented) {
    return fail(kMalformedSignature, prefixed(scheme, std::string(header) + " is not base64."));
  }
  crypto::HmacSha1 mac(auth.secret);
  mac.update(signed_prefix);
  mac.update(body);
  if (digest_equals(*presented, mac.finish())) return pass();
  return fail(kBadSignature,
              prefixed(scheme, std::string(header) + " does not match the request body."));
}

Verdict check_callrail(const SignatureAuth& auth, const Request& request) {
  constexpr SignatureScheme scheme = SignatureScheme::callrail;
  const std::optional<std::string_view> header = header_value(request, "Signature");
  if (!header) return missing_header(scheme, "Signature");
  return check_sha1_base64(scheme, auth, "Signature", *header, {}, request.body);
}

Verdict check_ctm(const SignatureAuth& auth, const Request& request, std::int64_t now) {
  constexpr SignatureScheme scheme = SignatureScheme::ctm;
  const std::optional<std::string_view> header = header_value(request, "X-CTM-Signature");
  if (!header) return missing_header(scheme, "X-CTM-Signature");
  const std::optional<std::string_view> time = header_value(request, "X-CTM-Time");
  if (!time) return missing_header(scheme, "X-CTM-Time");
  if (std::optional<Verdict> stale =
          check_timestamp(scheme, "X-CTM-Time", *time, auth.tolerance_seconds, now)) {
    return std::move(*stale);
  }
  return check_sha1_base64(scheme, auth, "X-CTM-Signature", *header, *time, request.body);
}

Verdict check_hmac(const SignatureAuth& auth, const Request& request, std::int64_t now) {
  constexpr SignatureScheme scheme = SignatureScheme::hmac;
  if (auth.header.empty()) {
    return fail(kBadSignature,
                prefixed(scheme, "no signature header is configured, so nothing can pass."));
  }
  const std::optional<std::string_view> header = header_value(request, auth.header);
  if (!header) return missing_header(scheme, auth.header);
  std::optional<std::string_view> timestamp;
  if (!auth.timestamp_header.empty()) {
    timestamp = header_value(request, auth.timestamp_header);
    if (!timestamp) return missing_header(scheme, auth.timestamp_header);
    if (std::optional<Verdict> stale = check_timestamp(scheme, auth.timestamp_header, *timestamp,
                                                       auth.tolerance_seconds, now)) {
      return std::move(*stale);
    }
  }
  if (auth.secret.empty()) return no_secret(scheme);

  std::string_view text = *header;
  if (!auth.prefix.empty()) {
    if (!istarts_with(text, auth.prefix)) {
      return fail(kMalformedSignature, prefixed(scheme, auth.header + " lacks the configured \"" +
                                                            auth.prefix + "\" prefix."));
    }
    text.remove_prefix(auth.prefix.size());
  }
  const bool hex = auth.encoding == SignatureAuth::Encoding::hex;
  const std::optional<std::string> presented =
      hex ? crypto::hex_decode(text) : crypto::base64_decode(text);
  if (!presented) {
    return fail(kMalformedSignature,
                prefixed(scheme, auth.header + (hex ? " is not hex." : " is not base64.")));
  }

  const auto sign = [&](auto mac) {
    if (timestamp) {
      mac.update(*timestamp);
      mac.update(auth.separator);
    }
    mac.update(request.body);
    return digest_equals(*presented, mac.finish());
  };
  const bool matched = auth.algorithm == SignatureAuth::Algorithm::sha1
                           ? sign(crypto::HmacSha1(auth.secret))
                           : sign(crypto::HmacSha256(auth.secret));
  if (matched) return pass();
  return fail(kBadSignature, prefixed(scheme, auth.header + " does not match the request."));
}

Verdict check_signature(const SignatureAuth& auth, const Request& request, std::int64_t now) {
  switch (auth.scheme) {
    case SignatureScheme::standard_webhooks:
      return check_standard_webhooks(auth, request, now);
    case SignatureScheme::twilio:
      return check_twilio(auth, request);
    case SignatureScheme::callrail:
      return check_callrail(auth, request);
    case SignatureScheme::ctm:
      return check_ctm(auth, request, now);
    case SignatureScheme::hmac:
      return check_hmac(auth, request, now);
  }
  return fail(kBadSignature, "Unknown signature scheme.");
}

AuthResult refuse(AuthResult result, Verdict verdict) {
  result.ok = false;
  result.code = std::string(verdict.code);
  result.message = std::move(verdict.message);
  result.scheme.clear();
  return result;
}

// The header that carries a scheme's signature.
std::string_view signature_header(const SignatureAuth& auth) {
  switch (auth.scheme) {
    case SignatureScheme::standard_webhooks:
      return "webhook-signature";
    case SignatureScheme::twilio:
      return "X-Twilio-Signature";
    case SignatureScheme::callrail:
      return "Signature";
    case SignatureScheme::ctm:
      return "X-CTM-Signature";
    case SignatureScheme::hmac:
      break;
  }
  return auth.header;
}

// Whether the header carrying a scheme's signature was sent (either spelling for
// standard-webhooks): the sender meant that scheme.
bool signature_header_sent(const SignatureAuth& auth, const Request& request) {
  if (auth.scheme == SignatureScheme::standard_webhooks) {
    for (const StandardWebhooksHeaders& names : kStandardWebhooksHeaders) {
      if (request.header(names.signature)) return true;
    }
    return false;
  }
  return request.header(signature_header(auth)).has_value();
}

}  // namespace

std::string_view to_string(SignatureScheme scheme) {
  switch (scheme) {
    case SignatureScheme::standard_webhooks:
      return "standard-webhooks";
    case SignatureScheme::twilio:
      return "twilio";
    case SignatureScheme::callrail:
      return "callrail";
    case SignatureScheme::ctm:
      return "ctm";
    case SignatureScheme::hmac:
      break;
  }
  return "hmac";
}

std::optional<SignatureScheme> parse_signature_scheme(std::string_view name) {
  if (name == "svix") return SignatureScheme::standard_webhooks;  // where the standard came from
  for (const SignatureScheme scheme :
       {SignatureScheme::standard_webhooks, SignatureScheme::twilio, SignatureScheme::callrail,
        SignatureScheme::ctm, SignatureScheme::hmac}) {
    if (name == to_string(scheme)) return scheme;
  }
  return std::nullopt;
}

AuthResult authenticate(const AuthConfig& config, const Request& request,
                        std::int64_t now_epoch_seconds) {
  AuthResult result;
  result.url = request.url;

  if (config.token) {
    const TokenAuth& token = *config.token;
    Verdict verdict = token.where == TokenAuth::Where::path
                          ? check_path_token(token, request.url, result.url)
                          : check_query_token(token, request.url, result.url);
    if (!verdict.code.empty()) return refuse(std::move(result), std::move(verdict));
  }

  if (config.basic) {
    Verdict verdict = check_basic(*config.basic, request);
    if (!verdict.code.empty()) return refuse(std::move(result), std::move(verdict));
  }

  if (!config.signatures.empty()) {
    // The refusal reported is that of the first scheme whose signature header was sent (the
    // sender meant that scheme, even if another of its headers is missing); else the first.
    std::optional<Verdict> reported;
    std::optional<Verdict> missing;
    for (const SignatureAuth& auth : config.signatures) {
      Verdict verdict = check_signature(auth, request, now_epoch_seconds);
      if (verdict.code.empty()) {
        result.ok = true;
        result.scheme = std::string(to_string(auth.scheme));
        return result;
      }
      if (signature_header_sent(auth, request)) {
        if (!reported) reported = std::move(verdict);
      } else if (!missing) {
        missing = std::move(verdict);
      }
    }
    return refuse(std::move(result), reported ? std::move(*reported) : std::move(*missing));
  }

  result.ok = true;
  return result;
}

}  // namespace callhook
