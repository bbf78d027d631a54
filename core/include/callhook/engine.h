// The engine: one pure call from an HTTP request to the decision a shell carries out.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "callhook/config.h"
#include "callhook/delivery.h"
#include "callhook/http.h"
#include "callhook/pipeline.h"

namespace callhook {

struct ErasureSubject;  // callhook/erasure.h

struct Response {
  int status = 200;
  std::vector<HttpHeader> headers;
  std::string body;
};

/// One request a shell must send to a destination.
struct Delivery {
  std::string route;
  std::string destination;
  std::string method;
  std::string url;
  std::vector<HttpHeader> headers;  // includes Content-Type and Idempotency-Key
  std::string body;
  /// Call.Sid + ':' + event + ':' + route: stable across retries and duplicate deliveries.
  std::string idempotency_key;
  /// One attempt's limit (the destination's `delivery.timeout_seconds`).
  std::int64_t timeout_ms = 0;
  /// What the delivery belongs to, so that an operator can find, redrive or erase it: the
  /// call's Call.Sid, the key of the call's correlation record ("" with correlation off) and
  /// what fired the route: "event", "complete" or "abandoned" (the route's `on`).
  std::string call_sid;
  std::string record_key;
  std::string trigger;
  /// The last moment (epoch ms) the platform still accepts this delivery (GA4: 72 hours after
  /// the event when it carries `timestamp_micros`; Meta: 7 days); 0: no deadline.
  std::int64_t not_after_ms = 0;
};

/// A destination's token bucket as the shell keeps it between sends (Engine::plan_send reads
/// and returns it). `tokens` < 0: a bucket never used (full).
struct PaceState {
  double tokens = -1;
  std::int64_t at_ms = 0;
};

/// What a shell does with a stored delivery that is due (Engine::plan_send).
struct SendPlan {
  /// `send`: send `request` now (the delivery unsealed, with its credentials), then report the
  /// answer to Engine::attempt_result. `need_token`: the destination's OAuth access token is
  /// needed: send `request` (the token request) and give its answer to Engine::token_result,
  /// then plan again with the token. `wait`: the destination's rate limit allows no request
  /// before `wait_ms` from now: keep the delivery and plan again then. `dead`: do not send;
  /// record `verdict` as this attempt's (unsendable, or past its deadline).
  enum class Kind { send, need_token, wait, dead };
  Kind kind = Kind::dead;
  Delivery request;
  std::int64_t wait_ms = 0;
  PaceState pace;  // send and wait: the bucket to keep for the destination
  AttemptVerdict verdict;
};

/// What Engine::token_result read in a token endpoint's answer: an access token to cache until
/// `cache_until_ms` (a few minutes before it expires), or, with no token, the verdict to record
/// for the delivery that needed it (retry: `token_unavailable`; dead: `token_refused`).
struct TokenOutcome {
  std::string access_token;
  std::int64_t cache_until_ms = 0;
  std::optional<AttemptVerdict> verdict;
};

/// Serialises a plan as JSON, spelt the same for every binding: {"plan": "send", "request":
/// {delivery}, "pace": {"tokens", "at_ms"}} | {"plan": "token", "request": {delivery}} |
/// {"plan": "wait", "wait_ms", "pace"} | {"plan": "dead", "verdict": {verdict}}.
void write_send_plan_json(const SendPlan& plan, std::string& out);
/// {"access_token", "cache_until_ms"} or {"verdict": {verdict}}.
void write_token_outcome_json(const TokenOutcome& outcome, std::string& out);

/// Why a sealed delivery (Engine::seal) cannot be turned back into one. `code` is stable:
/// `missing_secret` (it references a secret the config no longer has; `message` names it) or
/// `bad_sealed` (the text is not one Engine::seal wrote). Never holds a secret value.
struct SealError {
  std::string code;
  std::string message;
};

/// What Engine::unseal gives: the delivery, or (no delivery) why not.
struct Unsealed {
  std::optional<Delivery> delivery;
  SealError error;
};

/// A dead delivery to render again with the config of now (Engine::rerender): the call's stored
/// correlation record, and which route, destination and trigger the delivery came from.
struct RerenderRequest {
  std::string_view record;  // the record text, as stored
  std::string_view route;   // the delivery's route and destination
  std::string_view destination;
  std::string_view trigger;  // `event`, `complete` or `abandoned`
  std::string_view event;    // for `event`: `Call.Initiate` or `Call.Complete`
  /// The time to render at, epoch seconds (GA4 leaves out timestamp_micros past 72 hours); 0: no
  /// clock, the event counts as on time (its delivery's deadline still holds when it is sent).
  std::int64_t now = 0;
};

/// Why Engine::rerender gives no delivery. `code` is stable: `bad_trigger`, `bad_event`,
/// `unknown_route`, `route_trigger_changed` (the route now fires on another trigger),
/// `unknown_destination`, `route_does_not_send_there`, `bad_record`, `record_missing_event` (the
/// record lacks the event or abandoned call the delivery came from), `route_does_not_match`
/// (the route's filter no longer matches the call), `destination_skipped` (the format cannot take
/// the call, e.g. GA4 without a client id; the message says why). Never holds a secret value.
struct RerenderError {
  std::string code;
  std::string message;
};

/// What Engine::rerender gives: the delivery, or (no delivery) why not.
struct Rerendered {
  std::optional<Delivery> delivery;
  RerenderError error;
};

/// Whether a route matched, and for a destination that cannot take this call, why.
struct RouteDecision {
  std::string name;
  bool matched = false;
  std::vector<std::string> skipped;  // "destination: reason"
};

/// What the shell must do: answer the sender, send the deliveries, store the record, log.
struct Outcome {
  Response response;
  std::vector<Delivery> deliveries;
  std::vector<RouteDecision> routes;
  bool authenticated = false;
  std::string auth_scheme;  // the signature scheme that passed, if any
  Report report;            // the verdict (empty when refused before decoding)
  std::string canonical;    // the canonical event JSON when accepted
  /// Correlation: the record to store under `record_key`, replacing exactly version
  /// `record_expected_version` (0: there must be none yet) with compare-and-set, kept until
  /// `record_expires_at`. On a conflict the shell calls handle() again with the fresh record and
  /// sends only that outcome's deliveries. None when correlation is off or nothing changed.
  std::optional<std::string> record;
  std::string record_key;
  std::int64_t record_expected_version = 0;
  std::int64_t record_version = 0;  // the new record's version, what the store keeps beside it
  std::int64_t record_expires_at = 0;
  /// When the shell must sweep this call next (engine.sweep), in epoch seconds: an Initiate
  /// still waiting for its Complete. None when no sweep is due.
  std::optional<std::int64_t> record_sweep_at;
  bool duplicate = false;  // this event of this call was accepted before: nothing is routed
  std::string log;         // one JSON log line; no secrets, tokens or caller numbers
};

/// An RFC 9457 problem document (`type` is urn:callhook:problem:<type>) as a response, for the
/// engine's answers and for the shells' own (store unavailable, body too large, ...).
[[nodiscard]] Response problem(int status, std::string_view type, std::string_view title,
                               std::string_view detail,
                               const std::vector<Diagnostic>* errors = nullptr,
                               const std::vector<Diagnostic>* warnings = nullptr,
                               std::string_view code = {});

/// Serialises an outcome as JSON, spelt the same for every binding and the CLI: `response`,
/// `deliveries`, `routes`, `authenticated`, `auth_scheme`, `verdict`, `event`, `duplicate`, and
/// what a store keeps: `record` (the text to store byte for byte, or null), `record_key`,
/// `expected_version`, `version` (the new record's), `expires_at`, `sweep_at`; then `log`.
void write_outcome_json(const Outcome& outcome, std::string& out);
/// The same JSON with `event`, `record` and `log` written as 0 where the outcome has them (null
/// stays null), for a binding that carries those three texts beside it: `outcome.canonical`
/// (the event's JSON), `*outcome.record` (the record's text, unescaped) and `outcome.log` (the
/// log line's JSON). Put back in their places, they make write_outcome_json's document.
void write_outcome_skeleton(const Outcome& outcome, std::string& out);

/// One delivery as JSON, as write_outcome_json spells each of `deliveries`: {"route",
/// "destination", "method", "url", "headers": [[name, value], ..], "body", "idempotency_key",
/// "timeout_ms", "call_sid", "record_key", "trigger"}, then "not_after_ms" when it has a deadline.
void write_delivery_json(const Delivery& delivery, std::string& out);
/// Reads that form back (headers may also be an object of strings; `timeout_ms` may be left
/// out: 0; `not_after_ms` too: 0, no deadline; `call_sid`, `record_key` and `trigger` too, as
/// deliveries written before they existed lack them: the Call.Sid and trigger are then read from
/// the idempotency key, the record key is ""); nullopt, with `problem` in words, when it is not
/// of that form.
[[nodiscard]] std::optional<Delivery> parse_delivery_json(std::string_view text,
                                                          std::string& problem);

/// A request after the first step: authenticated, decoded, validated and normalized, once.
/// Either its answer is already known (`finished()`: refused, or nothing to correlate), or the
/// shell reads the call's record under `record_key()` and passes it to Engine::decide, as many
/// times as its compare-and-set needs. Opaque to shells but for those two facts.
class Prepared {
 public:
  [[nodiscard]] bool finished() const { return finished_; }
  /// The record to read before deciding; empty when there is none to read.
  [[nodiscard]] const std::string& record_key() const { return record_key_; }
  /// The prepared request as JSON text, for a shell that decides in another place than it
  /// prepared (the Worker prepares, the call's Durable Object decides).
  void write_json(std::string& out) const;
  /// Reads write_json's text back; nullopt when it is not that.
  [[nodiscard]] static std::optional<Prepared> read_json(std::string_view text);

 private:
  friend class Engine;
  bool finished_ = false;
  Outcome answer_;  // finished: the whole outcome; otherwise what decide() starts from
  std::string record_key_;
  EventType event_ = EventType::initiate;
  std::string call_sid_;
  std::string account_sid_;
  FieldList fields_;   // the decoded parameters
  FieldList headers_;  // lower-case names, first of each, credentials left out
  std::string query_;  // the URL's query as received, the token removed
};

class Engine {
 public:
  /// Builds an engine from a config document; nullopt, with every error (each with its JSON
  /// Pointer) in `errors`, when the config is invalid or names a secret `secrets` cannot resolve.
  static std::optional<Engine> from_config(std::string_view config_json,
                                           const SecretLookup& secrets,
                                           std::vector<Diagnostic>* errors = nullptr);
  /// The engine from_config would build from the text `config` was read from
  /// (parse_config_unbound), its secrets looked up in `secrets` now; nullopt when bind_config
  /// gives no config (from_config then says why).
  static std::optional<Engine> bind(UnboundConfig config, const SecretLookup& secrets);
  explicit Engine(Config config) : config_(std::move(config)) {}

  /// Decides what to do with one request received at `now` (seconds since the Unix epoch).
  /// `record` is the stored correlation record for the call, if any. The same as
  /// decide(prepare(request, now), now, record).
  [[nodiscard]] Outcome handle(const Request& request, std::int64_t now,
                               const std::optional<std::string>& record = std::nullopt) const;

  /// The first step of handle: authenticates, decodes, validates and normalizes the request,
  /// and says which record to read (see Prepared).
  [[nodiscard]] Prepared prepare(const Request& request, std::int64_t now) const;
  /// The second: folds the prepared request into the call's stored record (none: nullopt) and
  /// routes it. Pure, so a shell that lost its compare-and-set decides again on the fresh record.
  [[nodiscard]] Outcome decide(const Prepared& prepared, std::int64_t now,
                               const std::optional<std::string>& record = std::nullopt) const;

  /// Looks at a stored record at `now`: an Initiate whose Complete is overdue becomes an
  /// abandoned call, firing the `abandoned` routes once. The outcome carries the new record (to
  /// store with compare-and-set, as for handle) and deliveries, or no record when nothing was
  /// due. Records say when they are due in `sweep_at`.
  [[nodiscard]] Outcome sweep(const std::string& record, std::int64_t now) const;

  /// Decides what follows an attempt of a delivery (see AttemptInput: its number, the answer or
  /// transport failure, the time in milliseconds since the epoch and `random` in [0, 1) from the
  /// shell): delivered, retry at a time, or dead with a reason. The
  /// destination's policy and its format's reading of the answer decide; a destination the
  /// config no longer has is retried on the config's defaults.
  [[nodiscard]] AttemptVerdict attempt_result(const AttemptInput& attempt) const;

  /// The step before each attempt of a stored delivery: unseals `sealed` (Engine::seal's text),
  /// checks its deadline and its destination's rate limit (`pace`, as the shell kept it; a
  /// fresh PaceState for none) and applies the destination's credentials: `access_token` is the
  /// OAuth token the shell has cached for the destination ("" for none). See SendPlan.
  [[nodiscard]] SendPlan plan_send(std::string_view sealed, std::string_view access_token,
                                   const PaceState& pace, std::int64_t now_ms) const;

  /// Reads the token endpoint's answer to the request a `need_token` plan gave for
  /// `attempt.destination` (the attempt's number, time and random number are the delivery's).
  [[nodiscard]] TokenOutcome token_result(const AttemptInput& attempt) const;

  /// The delivery as a shell may keep it at rest (an outbox, a queue, a KV Store): one JSON text,
  /// {"sealed": 1, "route", "destination", "method", "url", "headers": [[name, value], ..],
  /// "body", "idempotency_key", "timeout_ms", "call_sid", "record_key", "trigger"} (and
  /// "not_after_ms" when the delivery has a deadline; text without it has none), where the
  /// method, URL, header values and body hold each of the config's secret values (4 bytes or
  /// more, longest first) as `${NAME}`, its percent-encoded form as `${NAME:pct}` and its
  /// JSON-escaped form as `${NAME:json}`, and every `$` of their own as `$$` (bytes that are not
  /// UTF-8 as `$xHH`). So a payload that carries the text `${NAME}` can never become the secret:
  /// see unseal. `route`, `destination`, `idempotency_key`, `call_sid`, `record_key`, `trigger`
  /// and the header names are written as they are.
  [[nodiscard]] std::string seal(const Delivery& delivery) const;
  /// seal's text back as the delivery, byte for byte, with the secrets' current values; a
  /// reference to a secret the config no longer has is `missing_secret`, any other text
  /// `bad_sealed` (SealError). A shell that cannot unseal a delivery reports the attempt as
  /// unsendable (AttemptAnswer), which is dead at once. Sealed text written before deliveries
  /// carried `call_sid`, `record_key` and `trigger` is read as parse_delivery_json reads it.
  [[nodiscard]] Unsealed unseal(std::string_view sealed) const;

  /// The delivery `request.route` would send to `request.destination` for the call of
  /// `request.record` with this config, rendered by the same routing and render path as handle
  /// and sweep, with the idempotency key the original delivery had: for an operator who fixed a
  /// template and redrives a dead letter. `event` deliveries render the stored canonical event
  /// (the parameters by spec name are rebuilt from it; headers and query are not kept in a
  /// record, so they are empty), `complete` ones the merged call as the record holds it now,
  /// `abandoned` ones the call as it was when abandoned (without a Complete that came later).
  [[nodiscard]] Rerendered rerender(const RerenderRequest& request) const;

  /// `text` with the config's secret values and callers' phone numbers taken out: every log
  /// line a shell writes goes through here.
  [[nodiscard]] std::string redact(std::string_view text) const;

  /// Whether a stored text (a record, a sealed delivery, a shell's dead-letter entry) concerns
  /// the subject's call or phone number: callhook::mentions (callhook/erasure.h), where the
  /// forms looked for are listed.
  [[nodiscard]] bool mentions(std::string_view text, const ErasureSubject& subject) const;

  [[nodiscard]] const Config& config() const { return config_; }

 private:
  // prepare and decide but for their log line, which those two redact.
  [[nodiscard]] Prepared prepare_request(const Request& request, std::int64_t now) const;
  [[nodiscard]] Outcome decide_request(const Prepared& prepared, std::int64_t now,
                                       const std::optional<std::string>& record) const;

  Config config_;
};

}  // namespace callhook
