// Engine::rerender: a dead delivery rendered again from the call's stored record with the config
// of now, under the idempotency key it had. It rebuilds the document the route saw when it fired
// (Engine::decide for `event` and `complete` routes, Engine::sweep for `abandoned` ones) from what
// the record keeps, and fires the routes of that trigger through routing.cpp, as they do.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "callhook/correlate.h"
#include "callhook/engine.h"
#include "callhook/spec.h"
#include "compact_json.h"
#include "routing.h"

namespace callhook {
namespace {

using nlohmann::json;

Rerendered refuse(std::string code, std::string message) {
  Rerendered r;
  r.error = {std::move(code), std::move(message)};
  return r;
}

std::string quoted(std::string_view text) {
  return "'" + std::string(text) + "'";
}

std::optional<Trigger> parse_trigger(std::string_view name) {
  if (name == "event") return Trigger::event;
  if (name == "complete") return Trigger::complete;
  if (name == "abandoned") return Trigger::abandoned;
  return std::nullopt;
}

const json* at_path(const json& doc, std::string_view path) {
  const json* node = &doc;
  while (!path.empty()) {
    const std::size_t dot = path.find('.');
    const std::string key(path.substr(0, dot));
    if (!node->is_object()) return nullptr;
    const auto it = node->find(key);
    if (it == node->end()) return nullptr;
    node = &*it;
    path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
  }
  return node;
}

// A canonical value as the text its parameter was sent as: normalize's writing undone.
std::string sent_text(const FieldSpec& spec, const json& value) {
  if (value.is_string()) {
    std::string text = value.get<std::string>();
    // Call.StartDate: "yyyy-MM-ddTHH:mm:ssZ" back to the spec's "yyyy-MM-dd HH:mm:ss".
    if (spec.type == FieldType::datetime && text.size() == 20 && text[10] == 'T' &&
        text.back() == 'Z') {
      text[10] = ' ';
      text.pop_back();
    }
    return text;
  }
  if (value.is_array()) {  // a comma list
    std::string text;
    for (const json& item : value) {
      if (!text.empty()) text += ',';
      text += item.is_string() ? item.get<std::string>() : item.dump();
    }
    return text;
  }
  return value.dump();
}

// The webhook's parameters by spec name, as far as its canonical event tells them (the record
// keeps the canonical event, not the decoded request): every parameter the spec carries, the
// custom dimensions and the parameters the spec does not know (kept under `extra`). A parameter
// sent empty comes back absent.
FieldList sent_fields(const json& event) {
  FieldList out;
  out.add("Action", "Webhook");  // not carried: its only value
  const auto specs = spec_fields();
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const FieldSpec& spec = specs[i];
    if (!spec.canonical_path.empty()) {
      const json* value = at_path(event, spec.canonical_path);
      if (spec.type == FieldType::e164_or_anonymous && (value == nullptr || value->is_null())) {
        const std::string_view parent =
            spec.canonical_path.substr(0, spec.canonical_path.rfind('.'));
        const json* anonymous = at_path(event, std::string(parent) + ".anonymous");
        if (anonymous != nullptr && anonymous->is_boolean() && anonymous->get<bool>()) {
          out.add(spec.name, "anonymous");
        }
      } else if (value != nullptr && !value->is_null()) {
        out.add(spec.name, sent_text(spec, *value));
      }
    }
    if (i == custom_dimension_anchor()) {
      const json* dimensions = at_path(event, kCustomDimensionPath);
      if (dimensions != nullptr && dimensions->is_object()) {
        for (const auto& [n, value] : dimensions->items()) {
          if (value.is_null()) continue;
          out.add(std::string(kCustomDimensionPrefix) + n,
                  value.is_string() ? value.get<std::string>() : value.dump());
        }
      }
    }
  }
  if (const json* extra = at_path(event, "extra"); extra != nullptr && extra->is_object()) {
    for (const auto& [name, value] : extra->items()) {
      if (value.is_string()) out.add(name, value.get<std::string>());
    }
  }
  return out;
}

json parse_object(const std::string& text) {
  json doc = json::parse(text, nullptr, false);
  return doc.is_object() ? doc : json::object();
}

std::string call_sid_of(const json& view) {
  const json* sid = at_path(view, "call.sid");
  return sid != nullptr && sid->is_string() ? sid->get<std::string>() : std::string();
}

}  // namespace

Rerendered Engine::rerender(const RerenderRequest& request) const {
  // What the config of now says first: a dead letter whose route or destination is gone cannot
  // be sent again whatever the record holds.
  const auto trigger = parse_trigger(request.trigger);
  if (!trigger) {
    return refuse("bad_trigger",
                  "the trigger is event, complete or abandoned, not " + quoted(request.trigger));
  }
  std::optional<EventType> event;
  if (*trigger == Trigger::event) {
    event = parse_event(request.event);
    if (!event) {
      return refuse("bad_event",
                    "an event delivery names its event, Call.Initiate or "
                    "Call.Complete, not " +
                        quoted(request.event));
    }
  }
  const auto route = std::find_if(config_.routes.begin(), config_.routes.end(),
                                  [&](const Route& r) { return r.name == request.route; });
  if (route == config_.routes.end()) {
    return refuse("unknown_route", "the config has no route " + quoted(request.route));
  }
  if (route->on != *trigger) {
    return refuse("route_trigger_changed", "route " + quoted(request.route) +
                                               " no longer fires on " + quoted(request.trigger));
  }
  if (config_.destination(request.destination) == nullptr) {
    return refuse("unknown_destination",
                  "the config has no destination " + quoted(request.destination));
  }
  if (std::find(route->to.begin(), route->to.end(), request.destination) == route->to.end()) {
    return refuse(
        "route_does_not_send_there",
        "route " + quoted(request.route) + " does not send to " + quoted(request.destination));
  }

  std::string why;
  auto record = parse_record(request.record, why);
  if (!record) return refuse("bad_record", "the record cannot be read: " + why);

  // The document the route saw when it fired, and the idempotency key's prefix.
  std::string canonical;
  json context;
  std::string key_prefix;
  if (*trigger == Trigger::event) {
    const std::optional<SeenEvent>& seen =
        *event == EventType::initiate ? record->initiate : record->complete;
    if (!seen) {
      return refuse("record_missing_event",
                    "the record holds no " + std::string(to_string(*event)));
    }
    canonical = seen->event;
    const json event_doc = parse_object(canonical);
    context =
        detail::filter_context(canonical, sent_fields(event_doc), FieldList(), "", config_.limits);
    context["correlation"] = merged_view(*record)["correlation"];
    key_prefix = call_sid_of(event_doc) + ":" + std::string(to_string(*event));
  } else if (*trigger == Trigger::complete) {
    if (!record->complete) return refuse("record_missing_event", "the record holds no Complete");
    const json merged = merged_view(*record);
    const json request_context = detail::filter_context(
        record->complete->event, sent_fields(parse_object(record->complete->event)), FieldList(),
        "", config_.limits);
    canonical = detail::dump_compact_json(merged);
    context = detail::complete_context(merged, request_context);
    key_prefix = call_sid_of(merged) + ":complete";
  } else {
    if (!record->abandoned) {
      return refuse("record_missing_event", "the record holds no abandoned call");
    }
    // A sweep abandons only a call without its Complete; one that came later is not what the
    // abandoned routes saw.
    CallRecord when_abandoned = *record;
    when_abandoned.complete.reset();
    const json merged = merged_view(when_abandoned);
    canonical = detail::dump_compact_json(merged);
    context = detail::abandoned_context(merged);
    key_prefix = call_sid_of(merged) + ":abandoned";
  }

  Outcome fired;
  detail::fire_routes(config_, *trigger, canonical, context, key_prefix, request.now, fired,
                      record->key);
  for (Delivery& d : fired.deliveries) {
    if (d.route == request.route && d.destination == request.destination) {
      Rerendered r;
      r.delivery = std::move(d);
      return r;
    }
  }
  for (const RouteDecision& decision : fired.routes) {
    if (decision.name != request.route) continue;
    if (!decision.matched) {
      return refuse("route_does_not_match",
                    "route " + quoted(request.route) + "'s filter does not match this call");
    }
    const std::string prefix = std::string(request.destination) + ": ";
    for (const std::string& skipped : decision.skipped) {
      if (skipped.starts_with(prefix)) {
        return refuse("destination_skipped",
                      std::string(request.destination) +
                          " does not take this call: " + skipped.substr(prefix.size()));
      }
    }
  }
  return refuse("destination_skipped",
                std::string(request.destination) + " does not take this call");
}

}  // namespace callhook
