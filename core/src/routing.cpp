#include "routing.h"

#include "callhook/filter.h"
#include "callhook/render.h"
#include "template.h"
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

// What `plan` names of `list`, the first value of each.
json first_of_planned(const FieldList& list, const ContextPlan::Part& part) {
  if (part.all) return first_of_each(list);
  json out = json::object();
  for (const std::string& name : part.names) {
    if (const auto value = list.find(name)) out[name] = std::string(*value);
  }
  return out;
}

CALLHOOK_COLD_BEGIN  // plans are made when the config is read

void add_name(ContextPlan::Part& part, std::string_view name) {
  for (const std::string& known : part.names) {
    if (known == name) return;
  }
  part.names.emplace_back(name);
}

// `name` and each of its prefixes before a dot: what a path may find in one object.
void add_names(ContextPlan::Part& part, std::string_view name) {
  add_name(part, name);
  for (std::size_t dot = name.find('.'); dot != std::string_view::npos;
       dot = name.find('.', dot + 1)) {
    if (dot > 0) add_name(part, name.substr(0, dot));
  }
}

// Whether `path` is `word`, or goes on below it.
bool under(std::string_view path, std::string_view word) {
  return path.starts_with(word) && (path.size() == word.size() || path[word.size()] == '.');
}

// A path from the context's top (a filter key, a placeholder's path).
void add_path(ContextPlan& plan, std::string_view path) {
  if (under(path, "correlation")) {
    plan.correlation = true;
    return;
  }
  for (auto [word, part] : {std::pair{std::string_view("fields"), &plan.fields},
                            std::pair{std::string_view("headers"), &plan.headers},
                            std::pair{std::string_view("query"), &plan.query}}) {
    if (!under(path, word)) continue;
    if (path.size() == word.size()) {
      part->all = true;  // the whole object
    } else {
      add_names(*part, path.substr(word.size() + 1));
    }
    return;
  }
  if (is_field_key(path)) add_names(plan.fields, path);  // read from `fields` (context_member)
}

// The keys of a filter that are looked up at the context's top: its own, and those of the
// filters its $and, $or and $not apply to the same document.
void add_filter_paths(ContextPlan& plan, const json& filter, int depth) {
  if (!filter.is_object() || depth > kMaxFilterDepth) return;
  for (auto it = filter.begin(); it != filter.end(); ++it) {
    const std::string& key = it.key();
    if (!key.starts_with('$')) {
      add_path(plan, key);
    } else if (key == "$and" || key == "$or" || key == "$not") {
      if (it->is_array()) {
        for (const json& sub : *it) add_filter_paths(plan, sub, depth + 1);
      } else {
        add_filter_paths(plan, *it, depth + 1);
      }
    }
  }
}

CALLHOOK_COLD_END

bool has_header(const std::vector<HttpHeader>& headers, std::string_view name) {
  for (const HttpHeader& h : headers) {
    if (iequals(h.name, name)) return true;
  }
  return false;
}

}  // namespace

CALLHOOK_COLD_BEGIN

ContextPlan plan_context(const Config& config) {
  ContextPlan plan;
  for (const Route& route : config.routes) add_filter_paths(plan, route.when, 0);
  for (const Destination& d : config.destinations) {
    std::vector<std::string> paths;
    template_paths(d.options, paths);  // every option string, templated or not
    for (const std::string& path : paths) add_path(plan, path);
    for (const std::string_view name : sent_parameter_names(d.format)) add_name(plan.fields, name);
  }
  return plan;
}

CALLHOOK_COLD_END

json filter_context(const std::string& canonical, const FieldList& fields, const FieldList& headers,
                    std::string_view query, const Limits& limits) {
  return filter_context(json::parse(canonical, nullptr, false), fields, headers, query, limits);
}

json filter_context(json event, const FieldList& fields, const FieldList& headers,
                    std::string_view query, const Limits& limits, const ContextPlan* plan) {
  static const ContextPlan::Part kAll{true, {}};
  json context = std::move(event);
  if (!context.is_object()) context = json::object();
  // The parameters by their spec names ("Call.Sid") are read from `fields` by filters and
  // templates (filter_context_matches, template.h), not copied to the top.
  context["fields"] = first_of_planned(fields, plan != nullptr ? plan->fields : kAll);
  context["headers"] = first_of_planned(headers, plan != nullptr ? plan->headers : kAll);
  const ContextPlan::Part& query_part = plan != nullptr ? plan->query : kAll;
  FieldList pairs;  // a query that cannot be decoded is an empty one
  if (query_part.all || !query_part.names.empty()) {
    if (decode_form(query, limits, pairs)) pairs.clear();
  }
  context["query"] = first_of_planned(pairs, query_part);
  return context;
}

json complete_context(const json& merged, const json& request_context) {
  json context = merged;
  for (const char* part : {"fields", "headers", "query"}) context[part] = request_context[part];
  for (const auto& [name, value] : request_context["fields"].items()) {
    if (!is_field_key(name)) context[name] = value;  // A-Z: read from `fields`
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
