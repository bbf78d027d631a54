// Route firing: the filter document, each matching route's destinations rendered into deliveries
// (internal to the core).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "callhook/config.h"
#include "callhook/engine.h"

namespace callhook {

/// What of a request `event` routes can read, worked out once from the config: whether they read
/// `correlation`, and of each of the filter context's `fields`, `headers` and `query`, all of
/// it, or the names a path may reach
/// (a path "Call.Sid.x" may reach "Call.Sid.x", "Call.Sid" and "Call"). Paths are the routes'
/// filter keys, every placeholder in a destination's options, and the names a format reads
/// itself (GA4's session id, Google Ads' gbraid and wbraid).
struct ContextPlan {
  struct Part {
    bool all = false;
    std::vector<std::string> names;
  };
  Part fields;
  Part headers;
  Part query;
  bool correlation = false;  // whether anything reads the context's `correlation`
};

}  // namespace callhook

namespace callhook::detail {

/// The plan for `config` (ContextPlan).
[[nodiscard]] ContextPlan plan_context(const Config& config);

/// The document filters and templates see: the canonical event's keys, and `fields`, `headers`
/// and `query` objects. Every decoded parameter is seen at the top by its spec name too
/// ("Call.Sid"): filter_context_matches and templates read a top key starting with A-Z from
/// `fields`, so it is not copied there.
[[nodiscard]] nlohmann::json filter_context(const std::string& canonical, const FieldList& fields,
                                            const FieldList& headers, std::string_view query,
                                            const Limits& limits);

/// The same from the canonical event already parsed. With a `plan`, only what it names of the
/// request is put in (what else is there no route can read).
[[nodiscard]] nlohmann::json filter_context(nlohmann::json event, const FieldList& fields,
                                            const FieldList& headers, std::string_view query,
                                            const Limits& limits,
                                            const ContextPlan* plan = nullptr);

[[nodiscard]] bool has_routes(const Config& config, Trigger trigger);

/// The document `complete` routes see: the merged call, with the completing request's `fields`,
/// `headers` and `query` from its filter context (and its parameters by spec name at the top).
[[nodiscard]] nlohmann::json complete_context(const nlohmann::json& merged,
                                              const nlohmann::json& request_context);
/// The document `abandoned` routes see: the merged call; no request, so no fields, headers or
/// query.
[[nodiscard]] nlohmann::json abandoned_context(const nlohmann::json& merged);

/// The name of a route's `on`: "event", "complete" or "abandoned".
[[nodiscard]] std::string_view trigger_name(Trigger trigger);

/// Evaluates every route of `trigger` on `context` and appends its decisions and deliveries
/// (idempotency key `key_prefix:route`) to `out`, rendered at `now` (epoch seconds; the
/// platforms' deadlines depend on it). `key_prefix` is the call's Call.Sid, `:` and what fired
/// (the event's name, `complete` or `abandoned`), so each delivery's `call_sid` is read from it;
/// `record_key` is the call's record key (empty with correlation off).
void fire_routes(const Config& config, Trigger trigger, const std::string& canonical,
                 const nlohmann::json& context, const std::string& key_prefix, std::int64_t now,
                 Outcome& out, std::string_view record_key = {});

}  // namespace callhook::detail
