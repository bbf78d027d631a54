// decode + validate + normalize of realistic payloads: ns per payload and bytes per second.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>

#include "callhook/pipeline.h"

namespace {

std::string read_example(const char* name) {
  const std::string path = std::string(CALLHOOK_SOURCE_DIR) + "/examples/payloads/" + name;
  std::string data;
  if (std::FILE* f = std::fopen(path.c_str(), "rb")) {
    char chunk[4096];
    std::size_t n = 0;
    while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) data.append(chunk, n);
    std::fclose(f);
  }
  return data;
}

void run_pipeline(benchmark::State& state, const char* file, const char* content_type) {
  const std::string body = read_example(file);
  if (body.empty()) {
    state.SkipWithError("example payload missing");
    return;
  }
  callhook::PipelineOptions options;
  callhook::Inspection inspection;
  std::string out;
  callhook::PayloadSource source;
  source.body = body;
  source.content_type = content_type;
  for (auto _ : state) {
    out.clear();
    callhook::inspect(source, options, inspection);
    const bool ok = callhook::write_canonical_json(inspection.fields, inspection.report, out);
    benchmark::DoNotOptimize(ok);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(body.size()));
  state.counters["payload_bytes"] = static_cast<double>(body.size());
}

void BM_InitiateForm(benchmark::State& state) {
  run_pipeline(state, "initiate.form", "application/x-www-form-urlencoded");
}
void BM_CompleteForm(benchmark::State& state) {
  run_pipeline(state, "complete.form", "application/x-www-form-urlencoded");
}
void BM_CompleteJson(benchmark::State& state) {
  run_pipeline(state, "complete.json", "application/json");
}

BENCHMARK(BM_InitiateForm);
BENCHMARK(BM_CompleteForm);
BENCHMARK(BM_CompleteJson);

}  // namespace

BENCHMARK_MAIN();
