// Engine::handle on a three-route config: auth, decode, validate, normalize, filters, render.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>

#include "callhook/engine.h"

namespace {

std::string read_source(const std::string& relative) {
  std::string data;
  if (std::FILE* f =
          std::fopen((std::string(CALLHOOK_SOURCE_DIR) + "/" + relative).c_str(), "rb")) {
    char chunk[4096];
    std::size_t n = 0;
    while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) data.append(chunk, n);
    std::fclose(f);
  }
  return data;
}

std::optional<std::string> bench_secret(std::string_view name) {
  if (name == "CALLHOOK_TOKEN") return "s3cret-token";
  return "secret-value";
}

// What a cold start costs natively: the engine built from the example config (the wasm targets
// add instantiation; bench/edge-report.mjs compares them).
void BM_EngineFromConfig(benchmark::State& state) {
  const std::string config = read_source("examples/configs/example.json");
  for (auto _ : state) {
    auto engine = callhook::Engine::from_config(config, bench_secret);
    if (!engine) {
      state.SkipWithError("example config refused");
      return;
    }
    benchmark::DoNotOptimize(&*engine);
  }
}
BENCHMARK(BM_EngineFromConfig);

void BM_HandleThreeRoutes(benchmark::State& state) {
  const auto engine =
      callhook::Engine::from_config(read_source("examples/configs/example.json"), bench_secret);
  if (!engine) {
    state.SkipWithError("example config refused");
    return;
  }
  callhook::Request request;
  request.url = "/hook/s3cret-token";
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  request.body = read_source("examples/payloads/complete.form");
  std::size_t deliveries = 0;
  for (auto _ : state) {
    const callhook::Outcome outcome = engine->handle(request, 1714533342);
    deliveries = outcome.deliveries.size();
    benchmark::DoNotOptimize(outcome.response.body.data());
  }
  state.counters["deliveries"] = static_cast<double>(deliveries);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(request.body.size()));
}
BENCHMARK(BM_HandleThreeRoutes);

// The example Complete handled with the example Initiate's record stored, on `engine`: what
// both correlation benchmarks time.
void complete_with_record(benchmark::State& state, const callhook::Engine& engine,
                          const char* url) {
  callhook::Request initiate;
  initiate.url = url;
  initiate.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  initiate.body = read_source("examples/payloads/initiate.form");
  const callhook::Outcome first = engine.handle(initiate, 1714533342);
  if (!first.record) {
    state.SkipWithError("no record from the Initiate");
    return;
  }
  callhook::Request complete = initiate;
  complete.body = read_source("examples/payloads/complete.form");
  std::size_t deliveries = 0;
  for (auto _ : state) {
    const callhook::Outcome outcome = engine.handle(complete, 1714533400, first.record);
    deliveries = outcome.deliveries.size();
    benchmark::DoNotOptimize(outcome.record->data());
  }
  state.counters["deliveries"] = static_cast<double>(deliveries);
  state.counters["record_bytes"] = static_cast<double>(first.record->size());
}

// handle() with the call's record present: the Initiate is stored, the Complete folds into it,
// merges the call and fires the `complete` route too.
void BM_HandleCompleteWithRecord(benchmark::State& state) {
  const char* config = R"({
    "destinations": {"sink": {"url": "http://127.0.0.1:9/sink"}},
    "routes": [{"name": "each", "to": ["sink"]}, {"name": "done", "on": "complete", "to": ["sink"]},
               {"name": "lost", "on": "abandoned", "to": ["sink"]}]})";
  const auto engine = callhook::Engine::from_config(config, nullptr);
  if (!engine) {
    state.SkipWithError("config refused");
    return;
  }
  complete_with_record(state, *engine, "/hook");
}
BENCHMARK(BM_HandleCompleteWithRecord);

// What the Node function does under bench/server-load.sh: correlation on, no routes; the
// Complete folded into the stored Initiate's record and the record written back.
void BM_HandleCorrelationOnly(benchmark::State& state) {
  const char* config = R"({"correlation": {"abandon_after_seconds": 600, "retention_seconds": 3600},
    "routes": [], "destinations": {}})";
  const auto engine = callhook::Engine::from_config(config, nullptr);
  if (!engine) {
    state.SkipWithError("config refused");
    return;
  }
  complete_with_record(state, *engine, "/hook");
}
BENCHMARK(BM_HandleCorrelationOnly);

// The whole engine as `callhook replay` runs it: the example config's routes (canonical log, GA4,
// Google Ads, the CRM template, Slack's filter) on the Complete, with the Initiate's record
// stored: decode, validate, normalize, correlation, filters, templates and every render.
void BM_HandleExampleWithRecord(benchmark::State& state) {
  const auto engine =
      callhook::Engine::from_config(read_source("examples/configs/example.json"), bench_secret);
  if (!engine) {
    state.SkipWithError("example config refused");
    return;
  }
  complete_with_record(state, *engine, "/hook/s3cret-token");
}
BENCHMARK(BM_HandleExampleWithRecord);

}  // namespace
