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

void BM_HandleThreeRoutes(benchmark::State& state) {
  const callhook::SecretLookup secrets = [](std::string_view name) -> std::optional<std::string> {
    if (name == "CALLHOOK_TOKEN") return "s3cret-token";
    return "secret-value";
  };
  const auto engine =
      callhook::Engine::from_config(read_source("examples/configs/example.json"), secrets);
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

}  // namespace
