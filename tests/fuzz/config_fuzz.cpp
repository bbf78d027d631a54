// libFuzzer target over config parsing: any bytes give an engine or a list of errors, never a
// crash; an engine that comes out must handle a valid webhook without crashing, and every JSON
// it writes must parse back.
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "callhook/engine.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const callhook::SecretLookup secrets = [](std::string_view name) -> std::optional<std::string> {
    if (name == "MISSING") return std::nullopt;
    return "s3cret";
  };
  std::vector<callhook::Diagnostic> errors;
  const auto engine = callhook::Engine::from_config(text, secrets, &errors);
  if (!engine) {
    if (errors.empty()) std::abort();  // a refused config always says why
    for (const auto& e : errors) {
      if (!e.field.empty() && e.field[0] != '/') std::abort();  // every error has a JSON Pointer
    }
    return 0;
  }
  callhook::Request request;
  request.method = "POST";
  request.url = "/hook/s3cret?token=s3cret";
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                     {"Authorization", "Basic czNjcmV0OnMzY3JldA=="}};
  request.body =
      "Action=Webhook&Event=Call.Complete&Account.Sid=AC1&Property.Sid=PR1&Property.Name=x.com"
      "&Property.Type=Site&Call.Sid=CA1&Call.StartDate=2024-05-01+03%3A15%3A42&Call.From=%2B1415"
      "5550123&Call.To=%2B18005550199&Call.To.Type=Static&Call.To.Name=Main&Call.Duration=45"
      "&Call.Disposition=ANSWERED&Google.Analytics.ClientId=GA1.2.3.4&Google.AdWords.ClickId=g";
  const callhook::Outcome outcome = engine->handle(request, 1714533342);
  std::string json;
  callhook::write_outcome_json(outcome, json);
  if (nlohmann::json::parse(json, nullptr, false).is_discarded()) std::abort();
  return 0;
}
