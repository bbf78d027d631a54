#include "routing.h"

#include "callhook/filter.h"
#include "callhook/render.h"
#include "text_util.h"

namespace callhook {

std::string_view to_string(Trigger trigger) {
  switch (trigger) {
    case Trigger::event:
      return "event";
    case Trigger::complete:
      return "complete";
    case Trigger::abandoned:
      return "abandoned";
  }
  return "event";
}

}  // namespace callhook

namespace callhook::detail {

using nlohmann::json;

namespace {

json first_of_each(const FieldList& list) {
  json out = json::object();
  auto& names = out.get_ref<json::object_t&>();
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string_view name = list.name(i);
    const auto at = names.lower_bound(name);  // one look-up, and no key built for a repeat
    if (at == names.end() || at->first != name) {
      names.emplace_hint(at, std::string(name), std::string(list.value(i)));
    }
  }
  return out;
}

bool has_header(const std::vector<HttpHeader>& headers, std::string_view name) {
  for (const HttpHeader& h : headers) {
    if (iequals(h.name, name)) return true;
  }
  return false;
}

}  // namespace

json filter_context(const std::string& canonical, const FieldList& fields, const FieldList& headers,
                    std::string_view query, const Limits& limits) {
  return filter_context(json::parse(canonical, nullptr, false), fields, headers, query, limits);
}

json filter_context(json event, const FieldList& fields, const FieldList& headers,
                    std::string_view query, const Limits& limits) {
  json context = std::move(event);
  if (!context.is_object()) context = json::object();
  // The parameters by their spec names ("Call.Sid") are read from `fields` by filters and
  // templates (filter_context_matches, template.h), not copied to the top.
  context["fields"] = first_of_each(fields);
  context["headers"] = first_of_each(headers);
  FieldList pairs;  // a query that cannot be decoded is an empty one
  if (decode_form(query, limits, pairs)) pairs.clear();
  context["query"] = first_of_each(pairs);
  return context;
}

json complete_context(const json& merged, const json& request_context) {
  json context = merged;
  for (const char* part : {"fields", "headers", "query"}) context[part] = request_context[part];
  for (const auto& [name, value] : request_context["fields"].items()) {
    if (name.empty() || name[0] < 'A' || name[0] > 'Z') context[name] = value;  // A-Z: in `fields`
  }
  return context;
}

json abandoned_context(const json& merged) {
  json context = merged;
  for (const char* part : {"fields", "headers", "query"}) context[part] = json::object();
  return context;
}

bool has_routes(const Config& config, Trigger trigger) {
  for (const Route& route : config.routes) {
    if (route.on == trigger) return true;
  }
  return false;
}

std::string_view trigger_name(Trigger trigger) { return to_string(trigger); }

void fire_routes(const Config& config, Trigger trigger, const std::string& canonical,
                 const json& context, const std::string& key_prefix, std::int64_t now, Outcome& out,
                 std::string_view record_key) {
  // What fires has no `:` (Call.Initiate, Call.Complete, complete, abandoned); a Call.Sid may.
  const std::string call_sid = key_prefix.substr(0, key_prefix.rfind(':'));
  for (const Route& route : config.routes) {
    if (route.on != trigger) continue;
    RouteDecision decision;
    decision.name = route.name;
    decision.matched = route.when.is_null() || filter_context_matches(route.when, context);
    if (decision.matched) {
      for (const std::string& name : route.to) {
        const Destination* dest = config.destination(name);
        if (dest == nullptr) continue;  // refused by the config check
        Rendered rendered = render(*dest, canonical, context, now);
        if (!rendered.skipped.empty()) {
          decision.skipped.push_back(name + ": " + rendered.skipped);
          continue;
        }
        Delivery d;
        d.route = route.name;
        d.destination = name;
        d.method = dest->method;
        // The platforms build their URL from the options when the destination names none.
        d.url = rendered.url.empty() ? dest->url : std::move(rendered.url);
        d.idempotency_key = key_prefix + ":" + route.name;
        d.timeout_ms = dest->delivery.timeout_ms;
        d.call_sid = call_sid;
        d.record_key = std::string(record_key);
        d.trigger = std::string(trigger_name(trigger));
        d.headers.push_back({"Content-Type", rendered.content_type});
        d.headers.push_back({"Idempotency-Key", d.idempotency_key});
        for (const HttpHeader& h : dest->headers) d.headers.push_back(h);
        // The format's own headers (Google Ads' developer-token) come after, unless the
        // destination sets that header itself: what the config writes wins.
        for (HttpHeader& h : rendered.headers) {
          if (!has_header(dest->headers, h.name)) d.headers.push_back(std::move(h));
        }
        d.body = std::move(rendered.body);
        d.not_after_ms = rendered.not_after_ms;
        out.deliveries.push_back(std::move(d));
      }
    }
    out.routes.push_back(std::move(decision));
  }
}

}  // namespace callhook::detail
