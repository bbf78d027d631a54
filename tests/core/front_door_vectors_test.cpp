// Runs tests/vectors/front_door/*.json: route(method, target, host), refusal(kind, detail),
// admin_check(authorization, token) and health(state, counts) against their expected answers. The
// npm package runs the same files (tests/js/package/package_vectors.test.mjs).
#include <gtest/gtest.h>

#include "callhook/front_door.h"
#include "vector_support.h"

namespace callhook::testing {
namespace {

using nlohmann::json;

json headers_of(const Response& response) {
  json out = json::object();
  for (const HttpHeader& h : response.headers) out[h.name] = h.value;
  return out;
}

void expect_problem(const Response& response, const json& expect, const std::string& what) {
  EXPECT_EQ(response.status, expect.value("status", 0)) << what;
  const json doc = json::parse(response.body, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << what << ": " << response.body;
  EXPECT_EQ(doc.value("type", std::string()), expect.value("type", std::string())) << what;
  EXPECT_EQ(doc.value("status", 0), response.status) << what << ": the document's status";
  EXPECT_TRUE(doc.contains("title") && doc["title"].is_string()) << what;
  EXPECT_TRUE(doc.contains("detail") && doc["detail"].is_string()) << what;
  if (expect.contains("code")) EXPECT_EQ(doc.value("code", std::string()), expect["code"]) << what;
  if (expect.contains("detail")) {
    EXPECT_EQ(doc.value("detail", std::string()), expect["detail"]) << what;
  }
}

class RouteVector : public ::testing::Test {
 public:
  explicit RouteVector(json vector) : vector_(std::move(vector)) {}
  void TestBody() override {
    std::optional<std::string> host;
    if (vector_.contains("host")) host = vector_["host"].get<std::string>();
    const FrontDoorRoute r =
        route(vector_.value("method", std::string()), vector_.value("target", std::string()),
              host ? std::optional<std::string_view>(*host) : std::nullopt);
    const json& expect = vector_["expect"];
    EXPECT_EQ(endpoint_name(r.endpoint), expect.value("endpoint", std::string()));
    if (expect.contains("path")) EXPECT_EQ(r.path, expect["path"].get<std::string>());
    if (r.endpoint != Endpoint::refused) return;
    expect_problem(r.response, expect, "the refusal");
    const json headers = headers_of(r.response);
    EXPECT_EQ(headers.value("Content-Type", std::string()), "application/problem+json");
    if (expect.contains("headers")) {
      for (const auto& [name, value] : expect["headers"].items()) {
        EXPECT_EQ(headers.value(name, std::string()), value.get<std::string>()) << name;
      }
    }
  }

 private:
  json vector_;
};

class RefusalVector : public ::testing::Test {
 public:
  explicit RefusalVector(json vector) : vector_(std::move(vector)) {}
  void TestBody() override {
    const json& expect = vector_["expect"];
    const auto kind = parse_refusal(vector_.value("kind", std::string()));
    if (expect.value("unknown", false)) {
      EXPECT_FALSE(kind.has_value());
      return;
    }
    ASSERT_TRUE(kind.has_value());
    EXPECT_EQ(refusal_kind(*kind), vector_["kind"].get<std::string>());
    const Response r = refusal(*kind, vector_.value("detail", std::string()));
    expect_problem(r, expect, "the refusal");
    EXPECT_EQ(headers_of(r), expect["headers"]) << "its headers, exactly";
  }

 private:
  json vector_;
};

class AdminCheckVector : public ::testing::Test {
 public:
  explicit AdminCheckVector(json vector) : vector_(std::move(vector)) {}
  void TestBody() override {
    std::optional<std::string> authorization;
    if (vector_.contains("authorization")) {
      authorization = vector_["authorization"].get<std::string>();
    }
    const std::string token = vector_.value("token", std::string());
    const auto answer = admin_check(
        authorization ? std::optional<std::string_view>(*authorization) : std::nullopt, token);
    const json& expect = vector_["expect"];
    ASSERT_EQ(!answer.has_value(), expect.value("allowed", false));
    if (!answer) return;
    expect_problem(*answer, expect, "the refusal");
    EXPECT_EQ(headers_of(*answer), expect["headers"]) << "its headers, exactly";
    if (!token.empty()) EXPECT_EQ(answer->body.find(token), std::string::npos) << "no token shown";
  }

 private:
  json vector_;
};

class HealthVector : public ::testing::Test {
 public:
  explicit HealthVector(json vector) : vector_(std::move(vector)) {}
  void TestBody() override {
    const Response r =
        health(vector_.value("state", std::string()), vector_.value("pending", std::int64_t{-1}),
               vector_.value("dead_letters", std::int64_t{-1}));
    EXPECT_EQ(r.status, vector_["expect"]["status"].get<int>());
    EXPECT_EQ(json::parse(r.body, nullptr, false), vector_["expect"]["body"]);
    EXPECT_EQ(headers_of(r).value("Content-Type", std::string()), "application/json");
  }

 private:
  json vector_;
};

template <typename T>
void register_file(const VectorFile& file) {
  const std::string suite =
      "FrontDoorVectors_" + test_name(std::filesystem::path(file.path).stem().string());
  if (file.document.is_discarded() || !file.document.contains("cases")) {
    ::testing::RegisterTest(suite.c_str(), "file_is_valid", nullptr, nullptr, file.path.c_str(), 0,
                            []() -> ::testing::Test* { return new RouteVector(json::object()); });
    return;
  }
  std::size_t index = 0;
  for (const json& vector : file.document["cases"]) {
    const std::string name =
        std::to_string(index++) + "_" + test_name(vector.value("name", std::string("case")));
    ::testing::RegisterTest(suite.c_str(), name.c_str(), nullptr, nullptr, file.path.c_str(), 0,
                            [vector]() -> ::testing::Test* { return new T(vector); });
  }
}

const bool kFrontDoorRegistered = [] {
  for (const VectorFile& file : load_vectors("front_door")) {
    const std::string stem = std::filesystem::path(file.path).stem().string();
    if (stem == "refusals") {
      register_file<RefusalVector>(file);
    } else if (stem == "health") {
      register_file<HealthVector>(file);
    } else if (stem == "admin") {
      register_file<AdminCheckVector>(file);
    } else {
      register_file<RouteVector>(file);
    }
  }
  return true;
}();

}  // namespace
}  // namespace callhook::testing
