// The engine's configuration: one JSON document (schema: core/schema/config.schema.json).
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "callhook/auth.h"
#include "callhook/correlate.h"
#include "callhook/decode.h"
#include "callhook/delivery.h"
#include "callhook/fields.h"
#include "callhook/http.h"
#include "callhook/redact.h"
#include "callhook/senders.h"
#include "callhook/validate.h"

namespace callhook {

/// How a destination's body is made from the event.
enum class RenderFormat { canonical, ga4, google_ads, meta_capi, slack, json_template };
[[nodiscard]] std::string_view to_string(RenderFormat format);
[[nodiscard]] std::optional<RenderFormat> parse_render_format(std::string_view name);

/// How a destination's requests are authorized (config: `destinations.NAME.auth`). Applied when
/// a delivery is sent (Engine::plan_send), never stored with it. Values hold resolved secrets.
struct DestinationAuth {
  /// `none`; `bearer`: `Authorization: Bearer <token>`; `header`: `<header>: <value>`;
  /// `oauth2`: an access token from `token_url`, minted by the refresh-token grant
  /// (`refresh_token` set) or the client-credentials grant, sent as a bearer token.
  enum class Kind { none, bearer, header, oauth2 };
  enum class Grant { refresh_token, client_credentials };
  Kind kind = Kind::none;
  std::string token;   // bearer
  std::string header;  // header: its name
  std::string value;   // header: its value
  Grant grant = Grant::refresh_token;
  std::string token_url;  // oauth2 (the google-ads format defaults it to Google's)
  std::string client_id;
  std::string client_secret;
  std::string refresh_token;
  std::string scope;
};

/// A destination's pace (config: `destinations.NAME.rate_limit`): a token bucket refilled at
/// `per_second` tokens a second up to `burst`; one token per request sent. 0: no limit.
struct RateLimit {
  double per_second = 0;
  double burst = 0;
};

/// A destination's templates, compiled (render.h's compile_templates).
struct DestinationTemplates;

struct Destination {
  std::string name;
  RenderFormat format = RenderFormat::canonical;
  std::string method = "POST";
  std::string url;  // google-ads and meta-capi build theirs from the options when it is unset
  std::vector<HttpHeader> headers;
  nlohmann::json options = nlohmann::json::object();  // format settings (see the README)
  /// How its deliveries are retried: the config's `delivery` defaults with this destination's
  /// own `delivery` settings over them.
  RetryPolicy delivery;
  DestinationAuth auth;
  RateLimit rate_limit;
  /// Sends in flight at once to this destination in one shell (`concurrency`; 0: the shell's
  /// default).
  int concurrency = 0;
  /// Its option templates read once, when an engine is built from the config; unset, each
  /// render reads them from `options`.
  std::shared_ptr<const DestinationTemplates> templates;
};

/// When a route fires. `event`: on each accepted webhook that is not a duplicate (the default);
/// `complete`: once per call, when its Complete is first accepted, over the merged call;
/// `abandoned`: once per call whose Initiate saw no Complete in time, found by a sweep.
enum class Trigger { event, complete, abandoned };
/// A route's `on` as the config spells it: "event", "complete" or "abandoned".
[[nodiscard]] std::string_view to_string(Trigger trigger);

struct Route {
  std::string name;
  nlohmann::json when;  // a filter; null matches every event
  std::vector<std::string> to;
  Trigger on = Trigger::event;
};

struct ResponseConfig {
  /// Answer 200 even to invalid payloads (the verdict is still in the body), for senders that
  /// disable endpoints that fail.
  bool always_200 = false;
};

/// A sender whose webhooks arrive at /hook/NAME (config: `sources.NAME`), with its own auth and
/// way of reading them. Requests to /hook that name no source are the config's own (its `auth`
/// and `validation`, the Voice Webhooks format).
struct Source {
  std::string name;
  AuthConfig auth;
  SenderSettings reading;  // its sender format, mode, defaults and (Ringba) field names
};

/// What of a request the routes' filters, templates and formats can read (routing.h), worked
/// out once from the config (render.h's compile_templates).
struct ContextPlan;

struct Config {
  AuthConfig auth;
  Mode mode = Mode::lenient;
  Limits limits;
  ResponseConfig response;
  std::vector<Source> sources;
  std::vector<Route> routes;
  std::vector<Destination> destinations;
  CorrelationConfig correlation;
  RetryPolicy delivery;  // the defaults every destination starts from
  /// The secrets the config resolved, so log lines can be redacted of their values.
  std::vector<ResolvedSecret> secrets;
  /// Unset: a filter context holds every parameter, header and query pair.
  std::shared_ptr<const ContextPlan> context_plan;

  [[nodiscard]] const Destination* destination(std::string_view name) const;
  [[nodiscard]] const Source* source(std::string_view name) const;
};

/// Resolves `${NAME}` secret references; nullopt when the secret is not set.
using SecretLookup = std::function<std::optional<std::string>(std::string_view name)>;

struct ConfigResult {
  std::optional<Config> config;    // set when there are no errors
  std::vector<Diagnostic> errors;  // every problem at once; `field` is a JSON Pointer ("" = root)
};

/// Parses and checks a config document. Every string may reference secrets as `${NAME}`
/// (upper-case letters, digits, '_'); a reference the lookup cannot resolve is an error naming
/// the secret, never an empty string. Secret values never appear in errors.
[[nodiscard]] ConfigResult parse_config(std::string_view json_text, const SecretLookup& secrets);

/// A test a secret's value must pass where the config uses it, left to bind_config.
enum class SecretCheck { none, nonempty, http_uri, header_value, bearer_token, public_key };

/// A config read and checked before its secrets' values are known (parse_config_unbound): the
/// Config parse_config gives, each `${NAME}` reference held as a stand-in that bind_config
/// replaces with the secret's value. For a program that starts from a snapshot of its memory
/// (the Fastly program, pre-initialized at build time): the config is parsed once, when the
/// snapshot is made, and each request only looks its secrets up.
struct UnboundConfig {
  Config config;                      // its secrets empty until bound
  std::vector<std::string> names;     // the secrets referenced, each once
  std::vector<std::size_t> resolved;  // into `names`: every reference, in parse_config's order
  /// What parse_config checks of a setting that holds a reference, on the setting's text.
  std::vector<std::pair<std::string, SecretCheck>> checks;
};

/// Reads `json_text` as parse_config does, leaving its secrets unbound. nullopt when the config
/// is invalid or a secret's value could change what it means (a reference anywhere but the
/// settings whose value is used as it is: tokens, passwords and signing keys, URLs, header
/// values, destination credentials, the options of canonical and slack destinations and the
/// credentials among the others', source defaults): such a config is read by parse_config alone.
[[nodiscard]] std::optional<UnboundConfig> parse_config_unbound(std::string_view json_text);

/// The Config parse_config(json_text, secrets) gives, from parse_config_unbound(json_text):
/// each secret is looked up once and put in place, and config.secrets (redaction, sealing) holds
/// their values. nullopt when parse_config would give errors or might read the config otherwise
/// (a secret is not set, a value fails its setting's check or holds `${`): parse_config then
/// gives the errors.
[[nodiscard]] std::optional<Config> bind_config(UnboundConfig unbound, const SecretLookup& secrets);

}  // namespace callhook
