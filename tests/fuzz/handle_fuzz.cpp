// libFuzzer target over Engine::handle with a fixed config that uses every render format and
// filter operator, and a source of every sender: the fuzzed bytes are the body (the first byte
// picks the method, the content type and which sender's path it is posted to).
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "callhook/engine.h"

namespace {

const callhook::Engine& engine() {
  static const callhook::Engine instance = [] {
    const char* config = R"({
      "sources": {
        "tw": {"sender": "twilio"}, "cr": {"sender": "callrail", "mode": "strict"},
        "ctm": {"sender": "ctm"}, "rb": {"sender": "ringba", "defaults": {"Call.To": "+14155550199"},
                                         "fields": {"call_id": "cid"}}
      },
      "correlation": {"enabled": true},
      "destinations": {
        "c": {"url": "http://127.0.0.1/c"},
        "g": {"format": "ga4", "url": "http://127.0.0.1/g"},
        "a": {"format": "google-ads", "url": "http://127.0.0.1/a", "options": {"conversion_action": "customers/1/conversionActions/2", "value": 1}},
        "s": {"format": "slack", "url": "http://127.0.0.1/s"},
        "t": {"format": "template", "url": "http://127.0.0.1/t", "options": {"body": {
          "a": "{{ call.sid | upper }}", "b": "{{ call.start_date | epoch_ms }}", "c": "x {{ headers.x-h }} {{ query.q | default:1 }}",
          "d": "{{ Call.Duration | iso8601 }}", "e": "{{ call.prompts.keys.0 | lower }}"}}}
      },
      "routes": [
        {"name": "all", "to": ["c", "s"]},
        {"name": "ops", "when": {"$or": [{"Call.Duration": {"$gte": 30}}, {"call": {"from": {"country": {"$in": ["US", "GB"]}}}},
          {"$not": {"Call.Disposition": {"$startsWith": "NO"}}}, {"headers": {"x-h": {"$exist": true}}}, {"call.prompts.keys": "1"}]},
         "to": ["g", "a", "t"]}
      ]})";
    auto e = callhook::Engine::from_config(config, nullptr);
    if (!e) std::abort();
    return *e;
  }();
  return instance;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  callhook::Request request;
  const std::uint8_t selector = data[0];
  const std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
  static const char* const kPaths[] = {"/hook",    "/hook/tw",      "/hook/cr/pre-call",
                                       "/hook/cr", "/hook/ctm/end", "/hook/ctm",
                                       "/hook/rb", "/hook/x"};
  const std::string path = kPaths[(selector >> 3) & 7];
  request.headers.push_back({"X-H", rest.substr(0, 16)});
  if (selector & 1) {
    request.method = "GET";
    request.url = path + "?" + rest;
  } else {
    request.method = (selector & 2) ? "POST" : "PUT";
    request.url = path + "?q=1";
    request.body = rest;
    if (selector & 4) request.headers.push_back({"Content-Type", "application/json"});
  }
  const callhook::Outcome outcome = engine().handle(request, 1714533342);
  std::string json;
  callhook::write_outcome_json(outcome, json);
  if (nlohmann::json::parse(json, nullptr, false).is_discarded()) std::abort();
  for (const auto& d : outcome.deliveries) {
    if (nlohmann::json::parse(d.body, nullptr, false).is_discarded()) std::abort();
  }
  return 0;
}
