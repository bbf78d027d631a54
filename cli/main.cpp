// The callhook command-line program (native and WASI builds share it).
#include <algorithm>
#include <cstdio>
#include <string_view>

#include "cli_io.h"
#include "commands.h"

namespace callhook::cli {
namespace {

struct Command {
  std::string_view name;
  std::string_view summary;
  int (*run)(int argc, char** argv);
};

constexpr Command kCommands[] = {
    {"parse", "decode a payload into its [name, value] pairs", cmd_parse},
    {"validate", "check a payload against the Voice Webhooks spec", cmd_validate},
    {"normalize", "print the canonical call event of a payload", cmd_normalize},
    {"schema", "print the canonical event schema or the spec table", cmd_schema},
    {"check-config", "check a config file, listing every problem", cmd_check_config},
    {"match", "evaluate a filter against a JSON document", cmd_match},
    {"verify", "check a webhook signature", cmd_verify},
    {"handle", "run one request through the engine and print the outcome", cmd_handle},
    {"sweep", "sweep a call's stored record: fire the abandoned routes when due", cmd_sweep},
    {"attempt", "decide what follows a delivery attempt: delivered, retry at T, or dead",
     cmd_attempt},
    {"seal", "print a delivery as it is kept at rest: ${NAME} references, no secret values",
     cmd_seal},
    {"unseal", "print the delivery a sealed text holds, with the secrets of now", cmd_unseal},
    {"rerender", "render a dead delivery again with the config of now, under its key",
     cmd_rerender},
    {"replay", "run a log of requests through the engine with a record store", cmd_replay},
    {"deadletters", "list, show, redrive or purge a running function's dead letters",
     cmd_deadletters},
    {"erase", "erase what a running function keeps about a call or a caller", cmd_erase},
    {"check-destination",
     "print a destination's exact request, secrets masked; --send: the platform checks it",
     cmd_check_destination},
};

int print_usage(std::FILE* to) {
  std::fprintf(to,
               "callhook: check, reshape and route call-tracking webhooks.\n\n"
               "Usage: callhook COMMAND [OPTIONS] [FILE|-]\n\nCommands:\n");
  int width = 0;
  for (const Command& c : kCommands) width = std::max(width, static_cast<int>(c.name.size()));
  for (const Command& c : kCommands) {
    std::fprintf(to, "  %-*.*s %.*s\n", width, static_cast<int>(c.name.size()), c.name.data(),
                 static_cast<int>(c.summary.size()), c.summary.data());
  }
  std::fprintf(to, "\n'callhook COMMAND --help' describes a command.\n");
  return to == stdout ? kExitOk : kExitUsage;
}

}  // namespace

bool wants_help(int argc, char** argv) {
  for (int i = 2; i < argc; ++i) {
    const std::string_view word = argv[i];
    if (word == "--help" || word == "-h") return true;
  }
  return false;
}

void print_help(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
}

}  // namespace callhook::cli

int main(int argc, char** argv) {
  using namespace callhook::cli;
  if (argc < 2) return print_usage(stderr);
  const std::string_view name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") return print_usage(stdout);
  if (name == "--version") {
    std::printf("callhook 0.1.0\n");
    return kExitOk;
  }
  for (const Command& c : kCommands) {
    if (c.name == name) return c.run(argc, argv);
  }
  std::fprintf(stderr, "callhook: unknown command '%.*s'\n", static_cast<int>(name.size()),
               name.data());
  return print_usage(stderr);
}
