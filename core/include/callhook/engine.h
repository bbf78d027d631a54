// The engine: one pure call from an HTTP request to the decision a shell carries out.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "callhook/config.h"
#include "callhook/http.h"
#include "callhook/pipeline.h"

namespace callhook {

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
  std::string auth_scheme;            // the signature scheme that passed, if any
  Report report;                      // the verdict (empty when refused before decoding)
  std::string canonical;              // the canonical event JSON when accepted
  std::optional<std::string> record;  // correlation record to store; none without correlation
  std::string log;                    // one JSON log line; no secrets, tokens or caller numbers
};

/// Serialises an outcome as JSON (the CLI's `handle` output and the vectors' format).
void write_outcome_json(const Outcome& outcome, std::string& out);

class Engine {
 public:
  /// Builds an engine from a config document; nullopt, with every error (each with its JSON
  /// Pointer) in `errors`, when the config is invalid or names a secret `secrets` cannot resolve.
  static std::optional<Engine> from_config(std::string_view config_json,
                                           const SecretLookup& secrets,
                                           std::vector<Diagnostic>* errors = nullptr);
  explicit Engine(Config config) : config_(std::move(config)) {}

  /// Decides what to do with one request received at `now` (seconds since the Unix epoch).
  /// `record` is the stored correlation record for the call, if any.
  [[nodiscard]] Outcome handle(const Request& request, std::int64_t now,
                               const std::optional<std::string>& record = std::nullopt) const;

  [[nodiscard]] const Config& config() const { return config_; }

 private:
  Config config_;
};

}  // namespace callhook
