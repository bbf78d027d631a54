// Authenticating a webhook request: a shared token in the URL, HTTP Basic credentials, and the
// signature schemes of the senders we receive from (Standard Webhooks, Twilio, CallRail,
// CallTrackingMetrics, and a configurable generic HMAC).
//
// Sans-I/O: the caller passes the request as received and the current time; secrets arrive
// already resolved. Every comparison against a secret-derived value is constant-time, every
// signature is checked over the raw bytes as received, and no result message ever contains a
// secret, a token or a password (nor any value taken from the request).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "callhook/http.h"

namespace callhook {

/// A shared token carried in the URL.
struct TokenAuth {
  std::string token;
  /// path: some path segment equals the token (compared raw, not percent-decoded).
  /// query: the query parameter `param` (name and value decoded as
  /// application/x-www-form-urlencoded) equals the token.
  enum class Where { path, query } where = Where::path;
  std::string param = "token";
};

/// `Authorization: Basic base64(username:password)` (RFC 7617).
struct BasicAuth {
  std::string username;
  std::string password;
};

enum class SignatureScheme { standard_webhooks, twilio, callrail, ctm, hmac };

struct SignatureAuth {
  SignatureScheme scheme = SignatureScheme::hmac;
  std::string secret;                    // already resolved by the shell; never echoed
  std::int64_t tolerance_seconds = 300;  // standard-webhooks, ctm, and hmac with a timestamp
  std::string public_url;  // twilio: scheme+host(+path prefix) the sender used; replaces the
                           // request's own origin
  // generic hmac:
  enum class Algorithm { sha1, sha256 } algorithm = Algorithm::sha256;
  enum class Encoding { hex, base64 } encoding = Encoding::hex;
  std::string header = "X-Signature";  // header carrying the signature
  std::string prefix;                  // e.g. "sha256=" stripped before decoding
  std::string timestamp_header;        // when set, signed text is timestamp + separator + body
  std::string separator = ".";
};

struct AuthConfig {
  std::optional<TokenAuth> token;
  std::optional<BasicAuth> basic;
  std::vector<SignatureAuth> signatures;
};

struct AuthResult {
  bool ok = false;
  /// "" when ok; else missing_token, bad_token, missing_credentials, bad_credentials,
  /// missing_signature, bad_signature, malformed_signature, stale_timestamp.
  std::string code;
  std::string message;  // for people; never contains a secret or token
  std::string scheme;   // which signature scheme passed ("" if none configured or on failure)
  std::string url;      // the request URL with the token removed, for payload decoding
};

/// Fails closed: every configured mechanism must pass (token AND basic AND, when signatures are
/// configured, at least one of them). No mechanism configured = ok. Checks run in that order and
/// the first failing mechanism gives the code. When no signature passes, the code is that of the
/// first configured scheme whose signature header was present, or missing_signature when none
/// was. An empty configured token, secret or username+password never matches anything.
///
/// Per scheme:
/// - standard-webhooks: webhook-signature holds space-separated "<version>,<base64>" entries over
///   "webhook-id.webhook-timestamp.body"; any entry of the secret's version that verifies passes,
///   entries of other versions are skipped; a timestamp further than tolerance_seconds from now
///   is stale. A secret "whsec_<base64>" (the prefix is optional) is an HMAC-SHA256 key for "v1"
///   entries; "whpk_<base64 of 32 bytes>" is an Ed25519 public key for "v1a" entries (RFC 8032,
///   at most the first 8 v1a entries are verified); a "whsk_" signing key never passes. Svix's
///   names svix-id, svix-timestamp and svix-signature are accepted as well: each set whose
///   signature header was sent is checked on its own (never mixing the two), webhook-* first,
///   and either passing is enough; a refusal is that of the webhook-* set when it was sent.
/// - twilio: X-Twilio-Signature = base64(HMAC-SHA1(secret, url + sorted form params as
///   name+value)), params sorted by name then value, byte-wise. When the URL's query carries
///   bodySHA256 (JSON bodies), no params are appended and hex(SHA-256(body)) must equal it. The
///   URL is public_url + the request's path and query when public_url is set, else the request
///   URL when absolute, else https:// (or X-Forwarded-Proto) + Host + target; it is tried as is
///   and with its port removed (or the scheme's default port added), as Twilio's libraries do.
/// - callrail: Signature = base64(HMAC-SHA1(secret, body)).
/// - ctm: X-CTM-Signature = base64(HMAC-SHA1(secret, X-CTM-Time + body)); X-CTM-Time is checked
///   against tolerance_seconds.
/// - hmac: `header` = prefix + hex/base64 of HMAC-SHA1/SHA256(secret, [timestamp + separator +]
///   body).
[[nodiscard]] AuthResult authenticate(const AuthConfig& config, const Request& request,
                                      std::int64_t now_epoch_seconds);

/// "standard-webhooks", "twilio", "callrail", "ctm", "hmac".
[[nodiscard]] std::string_view to_string(SignatureScheme scheme);
/// The inverse of to_string (exact, lower-case names), plus "svix" for standard_webhooks;
/// nullopt for anything else.
[[nodiscard]] std::optional<SignatureScheme> parse_signature_scheme(std::string_view name);

}  // namespace callhook
