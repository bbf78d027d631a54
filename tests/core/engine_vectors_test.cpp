// Runs tests/vectors/engine/*.json: config + request in, outcome out (format in
// tests/vectors/README.md). Every target runs the same files.
#include <gtest/gtest.h>

#include <map>

#include "crypto.h"
#include "callhook/engine.h"
#include "vector_support.h"

namespace callhook::testing {
namespace {

using nlohmann::json;

// True when `actual` holds everything `expected` says: objects by key (extra keys allowed),
// arrays element by element (same length), anything else by equality.
bool contains(const json& actual, const json& expected, std::string& where) {
  if (expected.is_object()) {
    if (!actual.is_object()) return false;
    for (const auto& [key, value] : expected.items()) {
      const auto it = actual.find(key);
      if (it == actual.end()) {
        where += "/" + key + " (missing)";
        return false;
      }
      if (!contains(*it, value, where += "/" + key)) return false;
      where.resize(where.size() - key.size() - 1);
    }
    return true;
  }
  if (expected.is_array()) {
    if (!actual.is_array() || actual.size() != expected.size()) {
      where += " (array length)";
      return false;
    }
    for (std::size_t i = 0; i < expected.size(); ++i) {
      const std::string index = "/" + std::to_string(i);
      if (!contains(actual[i], expected[i], where += index)) return false;
      where.resize(where.size() - index.size());
    }
    return true;
  }
  return actual == expected;
}

void expect_contains(const json& actual, const json& expected, const std::string& what) {
  std::string where;
  EXPECT_TRUE(contains(actual, expected, where))
      << what << " differs at " << where << "\nexpected: " << expected.dump()
      << "\nactual: " << actual.dump();
}

json headers_object(const std::vector<HttpHeader>& headers) {
  json out = json::object();
  for (const HttpHeader& h : headers) {
    if (!out.contains(h.name)) out[h.name] = h.value;
  }
  return out;
}

json parse_or_string(const std::string& body) {
  json parsed = json::parse(body, nullptr, false);
  return parsed.is_discarded() ? json(body) : parsed;
}

Request request_from(const json& r) {
  Request request;
  request.method = r.value("method", std::string("POST"));
  request.url = r.value("url", std::string("/"));
  if (const auto it = r.find("headers"); it != r.end()) {
    if (it->is_object()) {
      for (const auto& [name, value] : it->items())
        request.headers.push_back({name, value.get<std::string>()});
    } else if (it->is_array()) {
      for (const json& pair : *it)
        request.headers.push_back({pair[0].get<std::string>(), pair[1].get<std::string>()});
    }
  }
  if (r.contains("body_base64")) {
    request.body = crypto::base64_decode(r["body_base64"].get<std::string>()).value_or("");
  } else if (r.contains("body_file")) {
    request.body = read_file(source_path(r["body_file"].get<std::string>()));
  } else {
    request.body = r.value("body", std::string());
  }
  return request;
}

// Compares an outcome with an `expect` object (the keys are described in tests/vectors/README.md).
void check_outcome(const Outcome& outcome, const json& expect) {
  if (expect.contains("status")) EXPECT_EQ(outcome.response.status, expect["status"].get<int>());
  if (expect.contains("response_headers")) {
    expect_contains(headers_object(outcome.response.headers), expect["response_headers"],
                    "response headers");
  }
  if (expect.contains("response_body")) {
    expect_contains(parse_or_string(outcome.response.body), expect["response_body"],
                    "response body");
  }
  if (expect.contains("verdict_errors")) {
    json actual = json::array();
    for (const Diagnostic& d : outcome.report.errors)
      actual.push_back({{"field", d.field}, {"code", d.code}});
    EXPECT_EQ(actual, expect["verdict_errors"]);
  }
  if (expect.contains("routes")) {
    json actual = json::array();
    for (const RouteDecision& r : outcome.routes) {
      actual.push_back({{"name", r.name}, {"matched", r.matched}, {"skipped", r.skipped}});
    }
    expect_contains(actual, expect["routes"], "routes");
  }
  if (expect.contains("deliveries")) {
    json actual = json::array();
    for (const Delivery& d : outcome.deliveries) {
      actual.push_back({{"route", d.route},
                        {"destination", d.destination},
                        {"method", d.method},
                        {"url", d.url},
                        {"headers", headers_object(d.headers)},
                        {"body", parse_or_string(d.body)},
                        {"idempotency_key", d.idempotency_key},
                        {"call_sid", d.call_sid},
                        {"record_key", d.record_key},
                        {"trigger", d.trigger}});
    }
    expect_contains(actual, expect["deliveries"], "deliveries");
  }
  if (expect.contains("log")) {
    expect_contains(parse_or_string(outcome.log), expect["log"], "log");
  }
  if (expect.contains("duplicate")) EXPECT_EQ(outcome.duplicate, expect["duplicate"].get<bool>());
}

class EngineVector : public ::testing::Test {
 public:
  explicit EngineVector(json vector) : v_(std::move(vector)) {}

  void TestBody() override {
    std::string config_text;
    if (v_.contains("config_file")) {
      config_text = read_file(source_path(v_["config_file"].get<std::string>()));
    } else {
      config_text = v_.value("config", json::object()).dump();
    }
    const json secrets = v_.value("secrets", json::object());
    const SecretLookup lookup = [&secrets](std::string_view name) -> std::optional<std::string> {
      const auto it = secrets.find(std::string(name));
      if (it == secrets.end() || !it->is_string()) return std::nullopt;
      return it->get<std::string>();
    };
    const json& expect = v_["expect"];
    std::vector<Diagnostic> errors;
    const auto engine = Engine::from_config(config_text, lookup, &errors);
    // The same text read before its secrets are known, then bound (the pre-initialized Fastly
    // program's way): the same engine, or none when from_config would refuse the config.
    std::optional<Engine> bound;
    if (auto unbound = parse_config_unbound(config_text)) {
      bound = Engine::bind(std::move(*unbound), lookup);
    }
    if (expect.contains("config_errors")) {
      EXPECT_FALSE(engine.has_value()) << "the config should be refused";
      EXPECT_FALSE(bound.has_value()) << "a config from_config refuses was bound";
      json actual = json::array();
      for (const Diagnostic& d : errors) actual.push_back({{"field", d.field}, {"code", d.code}});
      json wanted = expect["config_errors"];
      const auto by_pointer = [](const json& a, const json& b) { return a.dump() < b.dump(); };
      std::sort(actual.begin(), actual.end(), by_pointer);
      std::sort(wanted.begin(), wanted.end(), by_pointer);
      EXPECT_EQ(actual, wanted);
      for (const Diagnostic& d : errors) {
        for (const auto& [name, value] : secrets.items()) {
          if (value.is_string() && value.get<std::string>().size() >= 4) {
            EXPECT_EQ(d.message.find(value.get<std::string>()), std::string::npos)
                << "config error echoes secret " << name;
          }
        }
      }
      return;
    }
    ASSERT_TRUE(engine.has_value())
        << "config refused: " << (errors.empty() ? "" : errors[0].field + " " + errors[0].message);
    ASSERT_TRUE(v_.contains("request"));
    const Request request = request_from(v_["request"]);
    const Outcome outcome = engine->handle(request, v_.value("now", std::int64_t{1714533342}));

    check_outcome(outcome, expect);
    if (bound) {
      EXPECT_EQ(bound->config().secrets, engine->config().secrets);
      const Outcome again = bound->handle(request, v_.value("now", std::int64_t{1714533342}));
      EXPECT_EQ(again.response.status, outcome.response.status);
      EXPECT_EQ(again.response.body, outcome.response.body);
      EXPECT_EQ(again.log, outcome.log);
      ASSERT_EQ(again.deliveries.size(), outcome.deliveries.size());
      for (std::size_t i = 0; i < outcome.deliveries.size(); ++i) {
        EXPECT_EQ(bound->seal(again.deliveries[i]), engine->seal(outcome.deliveries[i]));
        EXPECT_EQ(again.deliveries[i].url, outcome.deliveries[i].url);
        EXPECT_EQ(again.deliveries[i].body, outcome.deliveries[i].body);
        EXPECT_EQ(again.deliveries[i].headers.size(), outcome.deliveries[i].headers.size());
        for (std::size_t h = 0; h < outcome.deliveries[i].headers.size(); ++h) {
          EXPECT_EQ(again.deliveries[i].headers[h].value, outcome.deliveries[i].headers[h].value);
        }
      }
      EXPECT_EQ(bound->redact(config_text), engine->redact(config_text));
    }
    // Whatever the case, no secret may leak into the response or the log.
    for (const auto& [name, value] : secrets.items()) {
      if (!value.is_string() || value.get<std::string>().size() < 4) continue;
      const std::string secret = value.get<std::string>();
      EXPECT_EQ(outcome.response.body.find(secret), std::string::npos)
          << "response echoes " << name;
      EXPECT_EQ(outcome.log.find(secret), std::string::npos) << "log echoes " << name;
    }
  }

 private:
  json v_;
};

const bool kRegistered = [] {
  std::size_t count = 0;
  for (const VectorFile& file : load_vectors("engine")) {
    const std::string suite =
        "EngineVectors_" + test_name(std::filesystem::path(file.path).stem().string());
    if (file.document.is_discarded() || !file.document.contains("cases")) {
      ::testing::RegisterTest(
          suite.c_str(), "file_is_valid", nullptr, nullptr, file.path.c_str(), 0,
          [path = file.path]() -> ::testing::Test* {
            return new EngineVector(
                json{{"expect", {{"config_errors", json::array({"unreadable " + path})}}}});
          });
      continue;
    }
    for (const json& vector : file.document["cases"]) {
      const std::string name = test_name(vector.value("name", "case_" + std::to_string(count)));
      ::testing::RegisterTest(suite.c_str(), name.c_str(), nullptr, nullptr, file.path.c_str(), 0,
                              [vector]() -> ::testing::Test* { return new EngineVector(vector); });
      ++count;
    }
  }
  return true;
}();

// A correlation sequence: several requests (and sweeps) against one engine and an in-memory
// store, each step's outcome checked, then the stored records.
class SequenceVector : public ::testing::Test {
 public:
  explicit SequenceVector(json vector) : v_(std::move(vector)) {}

  void TestBody() override {
    const json secrets = v_.value("secrets", json::object());
    const SecretLookup lookup = [&secrets](std::string_view name) -> std::optional<std::string> {
      const auto it = secrets.find(std::string(name));
      if (it == secrets.end() || !it->is_string()) return std::nullopt;
      return it->get<std::string>();
    };
    std::vector<Diagnostic> errors;
    const auto engine =
        Engine::from_config(v_.value("config", json::object()).dump(), lookup, &errors);
    ASSERT_TRUE(engine.has_value())
        << (errors.empty() ? "" : errors[0].field + " " + errors[0].message);
    std::map<std::string, std::string> store;
    std::size_t index = 0;
    const json steps = v_.value("steps", json::array());
    for (const json& step : steps) {
      SCOPED_TRACE("step " + std::to_string(index++));
      const std::int64_t now = step.value("now", std::int64_t{1714533342});
      Outcome outcome;
      if (step.value("sweep", false)) {
        const std::string key = step.value("key", std::string());
        ASSERT_TRUE(store.count(key)) << "no record for " << key;
        outcome = engine->sweep(store[key], now);
      } else {
        const Request request = request_from(step["request"]);
        if (step.contains("record")) {  // a record given as is, e.g. a corrupt one
          outcome = engine->handle(request, now, step["record"].get<std::string>());
          check_outcome(outcome, step.value("expect", json::object()));
          continue;
        }
        // The record key is the call's; learn it from a first decision, then decide on the
        // stored record (handle is pure, so deciding twice changes nothing).
        outcome = engine->handle(request, now);
        if (outcome.record && store.count(outcome.record_key)) {
          outcome = engine->handle(request, now, store[outcome.record_key]);
        }
      }
      if (outcome.record) {
        const auto it = store.find(outcome.record_key);
        const std::int64_t stored_version =
            it == store.end() ? 0 : json::parse(it->second).value("version", std::int64_t{0});
        EXPECT_EQ(outcome.record_expected_version, stored_version);
        store[outcome.record_key] = *outcome.record;
      }
      check_outcome(outcome, step.value("expect", json::object()));
    }
    const json records = v_.value("records", json::object());
    for (const auto& [key, expected] : records.items()) {
      ASSERT_TRUE(store.count(key)) << "no record stored for " << key;
      expect_contains(json::parse(store[key]), expected, "record " + key);
    }
  }

 private:
  json v_;
};

const bool kSequencesRegistered = [] {
  for (const VectorFile& file : load_vectors("correlation")) {
    const std::string suite =
        "CorrelationVectors_" + test_name(std::filesystem::path(file.path).stem().string());
    if (file.document.is_discarded() || !file.document.contains("cases")) continue;
    for (const json& vector : file.document["cases"]) {
      const std::string name = test_name(vector.value("name", std::string("case")));
      ::testing::RegisterTest(
          suite.c_str(), name.c_str(), nullptr, nullptr, file.path.c_str(), 0,
          [vector]() -> ::testing::Test* { return new SequenceVector(vector); });
    }
  }
  return true;
}();

// Splitting handle into prepare and decide changes nothing, even when the prepared request
// travels as text (the Worker prepares, a Durable Object decides): every engine vector's
// request and every correlation step gives the same outcome byte for byte.
class PreparedRoundTrip : public ::testing::Test {
 public:
  explicit PreparedRoundTrip(json vector) : v_(std::move(vector)) {}

  void TestBody() override {
    std::string config_text = v_.value("config", json::object()).dump();
    if (v_.contains("config_file")) {
      config_text = read_file(source_path(v_["config_file"].get<std::string>()));
    }
    const json secrets = v_.value("secrets", json::object());
    const SecretLookup lookup = [&secrets](std::string_view name) -> std::optional<std::string> {
      const auto it = secrets.find(std::string(name));
      if (it == secrets.end() || !it->is_string()) return std::nullopt;
      return it->get<std::string>();
    };
    const auto engine = Engine::from_config(config_text, lookup);
    ASSERT_TRUE(engine.has_value());
    std::map<std::string, std::string> store;
    std::vector<json> steps;
    if (v_.contains("request"))
      steps.push_back({{"request", v_["request"]}, {"now", v_.value("now", 0)}});
    for (const json& step : v_.value("steps", json::array())) {
      if (step.contains("request")) steps.push_back(step);
    }
    for (const json& step : steps) {
      const Request request = request_from(step["request"]);
      const std::int64_t now = step.value("now", std::int64_t{1714533342});
      const Prepared prepared = engine->prepare(request, now);
      std::optional<std::string> record;
      if (const auto it = store.find(prepared.record_key()); it != store.end()) record = it->second;
      const Outcome direct = engine->handle(request, now, record);
      std::string text;
      prepared.write_json(text);
      const auto travelled = Prepared::read_json(text);
      ASSERT_TRUE(travelled.has_value()) << text;
      EXPECT_EQ(travelled->finished(), prepared.finished());
      EXPECT_EQ(travelled->record_key(), prepared.record_key());
      if (!prepared.finished() && engine->config().correlation.enabled) {
        EXPECT_EQ(prepared.record_key(), direct.record_key);
      }
      std::string a, b, c;
      write_outcome_json(direct, a);
      write_outcome_json(engine->decide(prepared, now, record), b);
      EXPECT_EQ(a, b);
      const Outcome via_text = engine->decide(*travelled, now, record);
      if (prepared.finished()) {
        EXPECT_EQ(via_text.response.status, direct.response.status);
        EXPECT_EQ(via_text.response.body, direct.response.body);
      } else {
        write_outcome_json(via_text, c);
        EXPECT_EQ(a, c);
      }
      if (direct.record) store[direct.record_key] = *direct.record;
    }
  }

 private:
  json v_;
};

const bool kRoundTripsRegistered = [] {
  for (const std::string folder : {"engine", "correlation"}) {
    for (const VectorFile& file : load_vectors(folder)) {
      if (file.document.is_discarded() || !file.document.contains("cases")) continue;
      const std::string suite = "PreparedRoundTrip_" + folder + "_" +
                                test_name(std::filesystem::path(file.path).stem().string());
      for (const json& vector : file.document["cases"]) {
        // Only the vectors that run requests on a config that is valid.
        const json expect = vector.value("expect", json::object());
        if (expect.contains("config_errors") ||
            (!vector.contains("request") && !vector.contains("steps"))) {
          continue;
        }
        const std::string name = test_name(vector.value("name", std::string("case")));
        ::testing::RegisterTest(
            suite.c_str(), name.c_str(), nullptr, nullptr, file.path.c_str(), 0,
            [vector]() -> ::testing::Test* { return new PreparedRoundTrip(vector); });
      }
    }
  }
  return true;
}();

TEST(PreparedText, RefusesWhatItDidNotWrite) {
  for (const char* text :
       {"", "[]", "{}", R"({"v":2,"finished":false})",
        R"({"v":1,"finished":false,"record_key":"a"})", R"({"v":1,"finished":true})"}) {
    EXPECT_FALSE(Prepared::read_json(text).has_value()) << text;
  }
}

}  // namespace
}  // namespace callhook::testing
