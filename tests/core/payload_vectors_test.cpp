// Runs tests/vectors/payload/*.json: decode + validate + normalize against expected verdicts.
// The format is described in tests/vectors/README.md; every target runs the same files.
#include <gtest/gtest.h>

#include <algorithm>

#include "crypto.h"
#include "callhook/pipeline.h"
#include "vector_support.h"

namespace callhook::testing {
namespace {

using nlohmann::json;

// (field, code) pairs, sorted, so the order of findings does not matter.
std::vector<std::pair<std::string, std::string>> findings(const json& list) {
  std::vector<std::pair<std::string, std::string>> out;
  if (list.is_array()) {
    for (const json& item : list) {
      out.emplace_back(item.value("field", std::string()), item.value("code", std::string()));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::pair<std::string, std::string>> findings(const std::vector<Diagnostic>& list) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const Diagnostic& d : list) out.emplace_back(d.field, d.code);
  std::sort(out.begin(), out.end());
  return out;
}

std::string request_body(const json& request) {
  if (request.contains("body_base64")) {
    return crypto::base64_decode(request["body_base64"].get<std::string>()).value_or("\x01invalid");
  }
  if (request.contains("body_file")) {
    return read_file(source_path(request["body_file"].get<std::string>()));
  }
  if (request.contains("body_repeat")) {  // {"text": "...", "times": N}: large bodies stay small
    std::string body;
    const json& r = request["body_repeat"];
    for (int i = 0; i < r.value("times", 0); ++i) body += r.value("text", std::string());
    return request.value("body", std::string()) + body;
  }
  return request.value("body", std::string());
}

class PayloadVector : public ::testing::Test {
 public:
  explicit PayloadVector(json vector) : vector_(std::move(vector)) {}

  void TestBody() override {
    const json& request = vector_["request"];
    ASSERT_TRUE(request.is_object()) << "vector has no request";
    const std::string body = request_body(request);
    const std::string method = request.value("method", std::string("POST"));
    const std::string url = request.value("url", std::string("/"));
    const std::string content_type = request.value("content_type", std::string());

    PayloadSource source;
    source.method = method;
    source.url = url;
    source.body = body;
    if (request.contains("content_type")) source.content_type = content_type;

    PipelineOptions options;
    const json options_json = vector_.value("options", json::object());
    if (options_json.contains("mode")) {
      const auto mode = parse_mode(options_json["mode"].get<std::string>());
      ASSERT_TRUE(mode.has_value());
      options.mode = *mode;
    }
    const json limits = options_json.value("limits", json::object());
    options.limits.max_body_bytes = limits.value("max_body_bytes", options.limits.max_body_bytes);
    options.limits.max_fields = limits.value("max_fields", options.limits.max_fields);
    options.limits.max_name_bytes = limits.value("max_name_bytes", options.limits.max_name_bytes);
    options.limits.max_value_bytes =
        limits.value("max_value_bytes", options.limits.max_value_bytes);

    Inspection inspection;
    inspect(source, options, inspection);
    const json& expect = vector_["expect"];
    ASSERT_TRUE(expect.is_object()) << "vector has no expect";

    if (expect.contains("fields")) {
      json actual = json::array();
      for (std::size_t i = 0; i < inspection.fields.size(); ++i) {
        actual.push_back(
            {std::string(inspection.fields.name(i)), std::string(inspection.fields.value(i))});
      }
      EXPECT_EQ(actual, expect["fields"]);
    }
    ASSERT_TRUE(expect.contains("valid")) << "vector must say whether the payload is valid";
    EXPECT_EQ(inspection.report.valid, expect["valid"].get<bool>());
    if (expect.contains("event")) {
      const json event = inspection.report.event
                             ? json(std::string(to_string(*inspection.report.event)))
                             : json(nullptr);
      EXPECT_EQ(event, expect["event"]);
    }
    EXPECT_EQ(findings(inspection.report.errors), findings(expect.value("errors", json::array())));
    EXPECT_EQ(findings(inspection.report.warnings),
              findings(expect.value("warnings", json::array())));
    std::string canonical;
    const bool written = write_canonical_json(inspection.fields, inspection.report, canonical);
    EXPECT_EQ(written, inspection.report.valid);
    if (expect.contains("canonical")) {
      ASSERT_TRUE(written);
      const json actual = json::parse(canonical, nullptr, false);
      ASSERT_FALSE(actual.is_discarded()) << canonical;
      EXPECT_EQ(actual, expect["canonical"]) << "actual: " << actual.dump();
    }
  }

 private:
  json vector_;
};

// Registers one test per vector, named after its file and case, at static-init time.
const bool kRegistered = [] {
  std::size_t count = 0;
  for (const VectorFile& file : load_vectors("payload")) {
    const std::string suite =
        "PayloadVectors_" + test_name(std::filesystem::path(file.path).stem().string());
    if (file.document.is_discarded() || !file.document.contains("cases")) {
      ::testing::RegisterTest(suite.c_str(), "file_is_valid", nullptr, nullptr, file.path.c_str(),
                              0, [path = file.path]() -> ::testing::Test* {
                                struct Broken : ::testing::Test {
                                  std::string p;
                                  void TestBody() override {
                                    FAIL() << p << " is not a vector file";
                                  }
                                };
                                auto* t = new Broken;
                                t->p = path;
                                return t;
                              });
      continue;
    }
    for (const json& vector : file.document["cases"]) {
      const std::string name = test_name(vector.value("name", "case_" + std::to_string(count)));
      ::testing::RegisterTest(suite.c_str(), name.c_str(), nullptr, nullptr, file.path.c_str(), 0,
                              [vector]() -> ::testing::Test* { return new PayloadVector(vector); });
      ++count;
    }
  }
  return true;
}();

TEST(PayloadVectorCorpus, HoldsAtLeastEightyCases) {
  std::size_t count = 0;
  for (const VectorFile& file : load_vectors("payload")) {
    if (!file.document.is_discarded()) count += file.document.value("cases", json::array()).size();
  }
  EXPECT_GE(count, 80u);
}

}  // namespace
}  // namespace callhook::testing
