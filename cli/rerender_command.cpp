// callhook rerender: a dead delivery rendered again by the config of now (Engine::rerender), from
// the call's stored record, under the idempotency key it had.
#include <cstdio>
#include <ctime>
#include <string>

#include "callhook/engine.h"
#include "cli_io.h"
#include "commands.h"

namespace callhook::cli {
namespace {

constexpr std::string_view kHelp =
    "Usage: callhook rerender --config FILE --record RECORD_FILE\n"
    "                         (--route R --destination D --trigger T [--event E] |\n"
    "                          --delivery DELIVERY_FILE)\n\n"
    "Prints the delivery the route would send to the destination now, rendered by the config\n"
    "from the call's stored record (handle --record-out writes one), with the idempotency key\n"
    "the original delivery had: for a dead letter whose template has been fixed since.\n\n"
    "  --trigger T       event, complete or abandoned (the route's `on`)\n"
    "  --event E         for event: Call.Initiate or Call.Complete\n"
    "  --delivery FILE   the dead delivery (as handle prints it, or unsealed): its route,\n"
    "                    destination and trigger, the event read from its idempotency key\n\n"
    "Exit status: 0 with the delivery on stdout, 1 when it cannot be rendered (the reason\n"
    "and its code on stderr: unknown_route, route_does_not_match, ...), 2 on bad usage.\n";

// What fired a delivery, from its idempotency key `Call.Sid:what:route`.
std::string event_in_key(const Delivery& d) {
  const std::string suffix = ":" + d.route;
  if (!d.idempotency_key.ends_with(suffix)) return {};
  const std::string head = d.idempotency_key.substr(0, d.idempotency_key.size() - suffix.size());
  const std::size_t colon = head.rfind(':');
  return colon == std::string::npos ? std::string() : head.substr(colon + 1);
}

}  // namespace

int cmd_rerender(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    print_help(kHelp);
    return kExitOk;
  }
  Args args(argc, argv, 2);
  const auto config_path = args.option("--config");
  const auto record_path = args.option("--record");
  const auto delivery_path = args.option("--delivery");
  auto route = args.option("--route");
  auto destination = args.option("--destination");
  auto trigger = args.option("--trigger");
  auto event = args.option("--event");
  if (args.missing_value())
    return usage_error("rerender", *args.missing_value() + " needs a value");
  if (const auto unknown = args.unknown()) {
    return usage_error("rerender", "unknown option " + *unknown);
  }
  if (!args.positionals().empty()) return usage_error("rerender", "takes no file argument");
  if (!config_path || !record_path)
    return usage_error("rerender", "--config and --record are required");
  if (delivery_path) {
    if (route || destination || trigger || event) {
      return usage_error("rerender", "--delivery names the route, destination and trigger itself");
    }
    const auto text = read_input("rerender", *delivery_path);
    if (!text) return kExitUsage;
    std::string problem;
    const auto delivery = parse_delivery_json(*text, problem);
    if (!delivery)
      return usage_error("rerender", *delivery_path + " is not a delivery: " + problem);
    route = delivery->route;
    destination = delivery->destination;
    trigger = delivery->trigger;
    event = event_in_key(*delivery);
  } else if (!route || !destination || !trigger) {
    return usage_error("rerender", "give --route, --destination and --trigger, or --delivery");
  }
  const auto engine = load_engine("rerender", *config_path);
  if (!engine) return kExitUsage;
  const auto record = read_input("rerender", *record_path);
  if (!record) return kExitUsage;

  const Rerendered r = engine->rerender({*record, *route, *destination, *trigger,
                                         event ? std::string_view(*event) : "",
                                         static_cast<std::int64_t>(std::time(nullptr))});
  if (!r.delivery) {
    const std::string message = engine->redact(r.error.message);
    std::fprintf(stderr, "callhook rerender: %s (%s)\n", message.c_str(), r.error.code.c_str());
    return kExitRejected;
  }
  std::string out;
  write_delivery_json(*r.delivery, out);
  out.push_back('\n');
  std::fwrite(out.data(), 1, out.size(), stdout);
  return kExitOk;
}

}  // namespace callhook::cli
