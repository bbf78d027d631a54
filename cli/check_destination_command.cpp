// callhook check-destination: what one destination would get for a webhook, as the engine
// renders it (Engine::handle at now, then Engine::plan_send for its credentials), printed with
// every secret as a ${NAME} reference (Engine::seal); with --send, the platform's own check of it
// (check_request: Google Ads validateOnly, GA4's validation server, Meta's test events) sent over
// libcurl, the OAuth access token fetched first when the destination needs one, and the
// platform's verdict (read_check_answer).
//
// Nothing here decides what a platform meant: the core renders, plans, builds the check and
// reads the answers. This file sends, masks and prints.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "callhook/engine.h"
#include "callhook/render.h"
#include "cli_io.h"
#include "commands.h"
#include "http_client.h"

namespace callhook::cli {
namespace {

using json = nlohmann::ordered_json;

constexpr std::string_view kCommand = "check-destination";
constexpr int kExitUnreachable = 3;

constexpr std::string_view kHelp =
    "Usage: callhook check-destination --config FILE NAME [PAYLOAD|-] [--send]\n"
    "                                  [--test-event-code CODE] [--json]\n\n"
    "Shows what destination NAME would get for a webhook: the payload goes through the engine\n"
    "as a received webhook would (at the current time; the config's own webhook authentication\n"
    "is not asked for), and each delivery to NAME, from every route that matched, is printed as\n"
    "the exact HTTP request: method, URL, headers and body. Secrets (from the environment, as\n"
    "the config names them) are printed as ${NAME} references, never their values. For an\n"
    "oauth2 destination the token request comes first, and the Authorization header reads\n"
    "`Bearer <access token from TOKEN_URL>`. When nothing goes to NAME, it says why: which routes\n"
    "matched or not, and why a matching route's delivery was skipped.\n\n"
    "  PAYLOAD          a webhook payload file (a form body or a JSON body, as `validate` reads\n"
    "                   them; '-' reads stdin). Without it: a sample Call.Complete started five\n"
    "                   minutes ago, with a caller number, a Google Ads click id (GCLID) and a\n"
    "                   GA client id\n"
    "  --send           ask the platform to check the delivery, without recording it: Google Ads\n"
    "                   with validateOnly, GA4 at its validation server (/debug/mp/collect), Meta\n"
    "                   with a test_event_code (the destination's option or --test-event-code).\n"
    "                   The OAuth access token is fetched first when the destination uses oauth2\n"
    "                   (the token itself is never printed). Prints the check request and the\n"
    "                   platform's verdict: accepted or not, with each of its messages. Formats\n"
    "                   with no such check (canonical, template, Slack) are refused: a real\n"
    "                   delivery is never sent from here\n"
    "  --test-event-code CODE\n"
    "                   Meta's Test Events code for --send\n"
    "  --json           print one JSON document instead: {\"destination\", \"format\", \"event\",\n"
    "                   \"call_sid\", \"sample\", \"deliveries\": [{\"route\", \"trigger\",\n"
    "                   \"idempotency_key\", \"token_request\", \"request\", \"not_sent\", "
    "\"check\"}],\n"
    "                   \"routes\": [{\"name\", \"on\", \"sends_here\", \"matched\", \"skipped\", "
    "\"why\"}],\n"
    "                   \"reasons\", \"accepted\"}; each request is {\"method\", \"url\",\n"
    "                   \"headers\": [[name, value], ..], \"body\"}, masked the same way;\n"
    "                   with --send each delivery's \"check\" is {\"kind\", \"request\", "
    "\"token\"\n"
    "                   ({\"obtained\"} and, when not, \"code\", \"reason\"), \"answer\" "
    "({\"status\"}\n"
    "                   or {\"error\"}), \"accepted\", \"messages\"}\n\n"
    "The WASI build has no network: --send there is refused (exit 2).\n\n"
    "Exit status: 0 rendered (with --send: every check accepted); 1 nothing goes to NAME for\n"
    "this payload, or the platform (or its token endpoint) refused it, or it is past the\n"
    "platform's deadline; 2 usage, config or payload file errors, an unknown destination, a\n"
    "format with no check, --send in the WASI build; 3 the platform or its token endpoint\n"
    "could not be reached (or did not answer in the destination's timeout).\n";

// ---- masking ------------------------------------------------------------------------------------

// Engine::seal's text for people: each secret reference (${NAME}, ${NAME:pct}, ${NAME:json}) as
// ${NAME}, and seal's own escapes ($$ and $xHH) back to the bytes they stand for.
std::string unescape_sealed(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c != '$' || i + 1 >= text.size()) {
      out.push_back(c);
      continue;
    }
    const char next = text[i + 1];
    if (next == '$') {
      out.push_back('$');
      ++i;
    } else if (next == '{') {
      const std::size_t close = text.find('}', i + 2);
      if (close == std::string_view::npos) {
        out.append(text.substr(i));
        break;
      }
      std::string_view name = text.substr(i + 2, close - i - 2);
      if (const std::size_t colon = name.find(':'); colon != std::string_view::npos) {
        name = name.substr(0, colon);
      }
      out.append("${").append(name).push_back('}');
      i = close;
    } else if (next == 'x' && i + 3 < text.size()) {
      const auto hex = [](char h) {
        return h >= '0' && h <= '9' ? h - '0' : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
      };
      const int high = hex(text[i + 2]);
      const int low = hex(text[i + 3]);
      if (high < 0 || low < 0) {
        out.push_back(c);
        continue;
      }
      out.push_back(static_cast<char>(high * 16 + low));
      i += 3;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  for (std::size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

// A request as printed: its parts masked.
struct Shown {
  std::string method;
  std::string url;
  std::vector<HttpHeader> headers;
  std::string body;
};

json shown_json(const Shown& s) {
  json headers = json::array();
  for (const HttpHeader& h : s.headers) headers.push_back(json::array({h.name, h.value}));
  return json{{"method", s.method}, {"url", s.url}, {"headers", headers}, {"body", s.body}};
}

// Stands for the OAuth access token in a request that is printed, never sent: plan_send puts it
// where the real one goes, and it is then replaced by words.
constexpr std::string_view kTokenPlaceholder = "callhook-check-destination-access-token-0f3a9c";

class Masker {
 public:
  explicit Masker(const Engine& engine) : engine_(engine) {}

  /// An access token obtained while checking: never printed.
  void add_token(std::string token) {
    if (!token.empty()) tokens_.push_back(std::move(token));
  }

  /// The delivery as Engine::seal writes it, for people; the placeholder token as `words`.
  Shown show(const Delivery& d, std::string_view token_words = {}) const {
    Shown s;
    const json sealed = json::parse(engine_.seal(d), nullptr, false);
    if (!sealed.is_object()) {  // cannot happen: seal writes JSON. Print nothing of it.
      s.method = d.method;
      s.url = "(could not be masked)";
      return s;
    }
    const auto text = [&](const char* key) {
      const auto it = sealed.find(key);
      return it != sealed.end() && it->is_string() ? finish(it->get<std::string>(), token_words)
                                                   : std::string();
    };
    s.method = text("method");
    s.url = text("url");
    s.body = text("body");
    if (const auto it = sealed.find("headers"); it != sealed.end() && it->is_array()) {
      for (const json& pair : *it) {
        if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string()) {
          continue;
        }
        s.headers.push_back(
            {pair[0].get<std::string>(), finish(pair[1].get<std::string>(), token_words)});
      }
    }
    return s;
  }

  /// Words that came from elsewhere (a platform's message, a transport error): the config's
  /// secrets and callers' numbers taken out (Engine::redact), and any access token.
  std::string clean(std::string_view text) const {
    std::string out(text);
    for (const std::string& token : tokens_) replace_all(out, token, "<access token>");
    replace_all(out, kTokenPlaceholder, "<access token>");
    return engine_.redact(out);
  }

 private:
  std::string finish(const std::string& sealed, std::string_view token_words) const {
    std::string out = unescape_sealed(sealed);
    replace_all(out, kTokenPlaceholder, token_words.empty() ? "<access token>" : token_words);
    for (const std::string& token : tokens_) replace_all(out, token, "<access token>");
    // Engine::seal leaves secrets shorter than 4 bytes as they are; so does this (they would
    // match everywhere), but a longer one is never printed even if a form of it escaped seal.
    for (const auto& [name, value] : engine_.config().secrets) {
      if (value.size() >= 4) replace_all(out, value, "${" + name + "}");
    }
    return out;
  }

  const Engine& engine_;
  std::vector<std::string> tokens_;
};

// ---- the payload --------------------------------------------------------------------------------

std::string two(int n) {
  return n < 10 ? "0" + std::to_string(n) : std::to_string(n);
}

// A Call.Complete that started five minutes before `now`: recent enough for every platform's
// window, with what Google Ads, GA4 and Meta read (the caller's number, a GCLID, a client id).
std::string sample_payload(std::int64_t now) {
  const std::time_t started = static_cast<std::time_t>(now - 300);
  std::tm utc{};
  gmtime_r(&started, &utc);
  const std::string date = std::to_string(utc.tm_year + 1900) + "-" + two(utc.tm_mon + 1) + "-" +
                           two(utc.tm_mday) + "+" + two(utc.tm_hour) + "%3A" + two(utc.tm_min) +
                           "%3A" + two(utc.tm_sec);
  return "Action=Webhook&Event=Call.Complete&Account.Sid=AC8f2b0e5c1d4a4f7e9b3c6d2a1e0f9b8c"
         "&Property.Sid=PR2c7d9e1f3a5b4c6d8e0f1a2b3c4d5e6f&Property.Name=www.example-plumbing.com"
         "&Property.Type=Site&Call.Sid=CA0c4ec4de57100000000000000000c4ec&Call.StartDate=" +
         date +
         "&Call.From=%2B14155550123&Call.From.Country=US&Call.From.Region=CA"
         "&Call.From.City=San+Francisco&Call.To=%2B18005550199&Call.To.Type=Dynamic"
         "&Call.To.Name=Google+Ads+Number&Call.Duration=187&Call.Disposition=ANSWERED"
         "&Call.Survey.Type=New+Lead&Call.Survey.Value=250&Attribution.Source=google"
         "&Attribution.Medium=cpc&Attribution.Campaign=spring+promo&Attribution.Content=variation+1"
         "&Session.Traffic.Type=Campaign&Session.Keywords=emergency+plumber"
         "&Session.ConversionUri=https%3A%2F%2Fwww.example-plumbing.com%2Fcontact"
         "&Session.LandingUri=https%3A%2F%2Fwww.example-plumbing.com%2F%3Fgclid%3DEAIaIQobChMIx8v2"
         "&Google.Analytics.ClientId=GA1.2.1234567890.1714530000"
         "&Google.AdWords.ClickId=EAIaIQobChMIx8v2";
}

// ---- routes: why nothing (or what) goes to NAME -------------------------------------------------

struct RouteView {
  std::string name;
  std::string on;
  bool sends_here = false;
  std::optional<bool> matched;  // nullopt: the route was not evaluated for this payload
  std::vector<std::string> skipped;
  std::string why;
};

std::vector<RouteView> route_views(const Config& config, const Outcome& outcome,
                                   std::string_view name) {
  std::vector<RouteView> out;
  const bool accepted = !outcome.report.event.has_value() ? false : outcome.report.valid;
  const bool complete_event = outcome.report.event && *outcome.report.event == EventType::complete;
  for (const Route& route : config.routes) {
    RouteView v;
    v.name = route.name;
    v.on = std::string(callhook::to_string(route.on));
    for (const std::string& to : route.to) v.sends_here = v.sends_here || to == name;
    const RouteDecision* decision = nullptr;
    for (const RouteDecision& d : outcome.routes) {
      if (d.name == route.name) decision = &d;
    }
    if (decision != nullptr) {
      v.matched = decision->matched;
      v.skipped = decision->skipped;
      if (!decision->matched) {
        v.why = "its filter (`when`) does not match this payload";
      } else if (!v.sends_here) {
        v.why = "matched, but does not send to " + std::string(name);
      } else {
        bool skipped_here = false;
        for (const std::string& s : decision->skipped) {
          if (s.starts_with(std::string(name) + ": ")) {
            skipped_here = true;
            v.why = "matched, but " + s.substr(name.size() + 2);
          }
        }
        if (!skipped_here) v.why = "matched: sends to " + std::string(name);
      }
    } else if (!accepted) {
      v.why = "not evaluated: the payload was refused";
    } else if (route.on == Trigger::abandoned) {
      v.why =
          "fires on abandoned calls (an Initiate with no Complete, found by a sweep), never "
          "on a webhook";
    } else if (route.on == Trigger::complete && !config.correlation.enabled) {
      v.why = "fires when a call completes, which needs correlation, and correlation is off";
    } else if (route.on == Trigger::complete && !complete_event) {
      v.why = "fires when a call completes; this payload is not a Call.Complete";
    } else {
      v.why = "not evaluated for this payload";
    }
    out.push_back(std::move(v));
  }
  return out;
}

// ---- sending ------------------------------------------------------------------------------------

HttpCall call_of(const Delivery& d) {
  HttpCall call;
  call.method = d.method;
  call.url = d.url;
  call.headers = d.headers;
  call.has_body = !d.body.empty() || (d.method != "GET" && d.method != "HEAD");
  call.body = d.body;
  if (d.timeout_ms > 0) call.timeout_ms = d.timeout_ms;
  call.connect_timeout_ms = std::min<std::int64_t>(call.timeout_ms, 10'000);
  call.max_body = std::size_t{4} << 20;
  return call;
}

AttemptAnswer answer_of(const HttpReply& reply, const Masker& masker) {
  AttemptAnswer a;
  switch (reply.kind) {
    case HttpReply::Kind::answered:
      a.kind = AttemptAnswer::Kind::answered;
      a.status = static_cast<int>(reply.status);
      a.headers = reply.headers;
      a.body = reply.body;
      break;
    case HttpReply::Kind::timeout:
      a.kind = AttemptAnswer::Kind::timeout;
      a.error = masker.clean(reply.error);
      break;
    case HttpReply::Kind::transport_error:
      a.kind = AttemptAnswer::Kind::transport_error;
      a.error = masker.clean(reply.error);
      break;
  }
  return a;
}

std::int64_t clock_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string check_kind(RenderFormat format) {
  switch (format) {
    case RenderFormat::google_ads:
      return "Google Ads validateOnly";
    case RenderFormat::ga4:
      return "GA4 validation server (/debug/mp/collect)";
    case RenderFormat::meta_capi:
      return "Meta test events (test_event_code)";
    default:
      return std::string(to_string(format)) + " check";
  }
}

// One delivery's facts, as printed.
struct Checked {
  const Delivery* delivery = nullptr;
  std::optional<Shown> token_request;
  Shown request;
  std::optional<AttemptVerdict> not_sent;  // plan_send said dead (past its deadline, ...)
  // --send:
  bool checked = false;
  std::optional<Shown> check_request;
  json token = nullptr;   // {"obtained": true} | {"obtained": false, "code", "reason"}
  json answer = nullptr;  // {"status"} | {"error"}
  bool accepted = false;
  bool unreachable = false;
  std::vector<std::string> messages;
};

// The request plan_send would send for `sealed`, masked; the token request first when the
// destination mints OAuth access tokens.
void plan_for_display(const Engine& engine, const Masker& masker, std::string_view sealed,
                      std::int64_t now_ms, std::optional<Shown>& token_request, Shown& request,
                      std::optional<AttemptVerdict>& not_sent) {
  SendPlan plan = engine.plan_send(sealed, "", PaceState{}, now_ms);
  std::string token_words;
  if (plan.kind == SendPlan::Kind::need_token) {
    token_request = masker.show(plan.request);
    token_words = "<access token from " + token_request->url + ">";
    plan = engine.plan_send(sealed, kTokenPlaceholder, PaceState{}, now_ms);
  }
  switch (plan.kind) {
    case SendPlan::Kind::send:
      request = masker.show(plan.request, token_words);
      break;
    case SendPlan::Kind::dead:
      not_sent = plan.verdict;
      break;
    case SendPlan::Kind::wait:
    case SendPlan::Kind::need_token:
      break;
  }
}

struct TokenCache {
  std::string token;
  bool tried = false;
  json outcome = nullptr;  // as Checked::token
  bool unreachable = false;
};

void run_check(const Engine& engine, Masker& masker, const Destination& dest, Checked& c,
               const Delivery& check, std::int64_t now_ms, TokenCache& cache) {
  c.checked = true;
  const std::string sealed = engine.seal(check);
  std::optional<AttemptVerdict> not_sent;
  std::optional<Shown> token_shown;
  Shown shown;
  plan_for_display(engine, masker, sealed, now_ms, token_shown, shown, not_sent);
  if (not_sent) {
    c.not_sent = not_sent;
    return;
  }
  c.check_request = shown;
  if (!c.token_request && token_shown) c.token_request = token_shown;

  SendPlan plan = engine.plan_send(sealed, cache.token, PaceState{}, now_ms);
  if (plan.kind == SendPlan::Kind::need_token) {
    if (!cache.tried) {
      cache.tried = true;
      AttemptInput input;
      input.route = check.route;
      input.destination = check.destination;
      input.idempotency_key = check.idempotency_key;
      input.attempt = 1;
      input.now_ms = now_ms;
      const HttpReply reply = http_send(call_of(plan.request));
      input.answer = answer_of(reply, masker);
      input.now_ms = clock_ms();
      TokenOutcome outcome = engine.token_result(input);
      if (!outcome.access_token.empty()) {
        cache.token = outcome.access_token;
        masker.add_token(outcome.access_token);
        cache.outcome = json{{"obtained", true}};
      } else {
        const AttemptVerdict v = outcome.verdict.value_or(AttemptVerdict{});
        cache.unreachable = reply.kind != HttpReply::Kind::answered;
        std::string reason = masker.clean(v.reason);
        if (reason.empty() && reply.kind != HttpReply::Kind::answered) {
          reason = masker.clean(reply.error);
        }
        cache.outcome = json{{"obtained", false},
                             {"code", v.code.empty() ? "token_unavailable" : v.code},
                             {"reason", reason}};
        if (reply.kind == HttpReply::Kind::answered) {
          cache.outcome["status"] = reply.status;
        }
      }
    }
    if (cache.token.empty()) {
      c.token = cache.outcome;
      c.unreachable = cache.unreachable;
      return;
    }
    plan = engine.plan_send(sealed, cache.token, PaceState{}, now_ms);
  }
  if (cache.tried) c.token = cache.outcome;
  if (plan.kind == SendPlan::Kind::dead) {
    c.not_sent = plan.verdict;
    return;
  }
  if (plan.kind != SendPlan::Kind::send) {
    c.messages.push_back(plan.kind == SendPlan::Kind::wait
                             ? "the destination's rate limit allows no request now"
                             : "the access token was not accepted by the engine");
    return;
  }
  const HttpReply reply = http_send(call_of(plan.request));
  if (reply.kind != HttpReply::Kind::answered) {
    c.unreachable = true;
    c.answer = json{{"error", masker.clean(reply.kind == HttpReply::Kind::timeout
                                               ? "no answer in time: " + reply.error
                                               : reply.error)}};
    return;
  }
  c.answer = json{{"status", reply.status}};
  const CheckVerdict verdict = read_check_answer(dest, answer_of(reply, masker));
  c.accepted = verdict.accepted;
  for (const std::string& m : verdict.messages) c.messages.push_back(masker.clean(m));
}

// ---- printing -----------------------------------------------------------------------------------

void print_request(Output& out, const Shown& s) {
  out.line(s.method + " " + s.url);
  for (const HttpHeader& h : s.headers) out.line(h.name + ": " + h.value);
  out.line("");
  out.line(s.body);
}

json verdict_json(const AttemptVerdict& v, const Masker& masker) {
  return json{{"code", v.code}, {"reason", masker.clean(v.reason)}};
}

}  // namespace

int cmd_check_destination(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    print_help(kHelp);
    return kExitOk;
  }
  Args args(argc, argv, 2);
  const auto config_path = args.option("--config");
  const bool send = args.flag("--send");
  const bool as_json = args.flag("--json");
  const auto test_event_code = args.option("--test-event-code");
  if (args.missing_value()) return usage_error(kCommand, *args.missing_value() + " needs a value");
  if (const auto unknown = args.unknown())
    return usage_error(kCommand, "unknown option " + *unknown);
  const auto rest = args.positionals();
  if (!config_path) return usage_error(kCommand, "--config is required");
  if (rest.empty()) return usage_error(kCommand, "name the destination to check");
  if (rest.size() > 2) return usage_error(kCommand, "takes a destination and at most one payload");
  if (test_event_code && !send) {
    return usage_error(kCommand, "--test-event-code is for --send (Meta's test events)");
  }
  if (test_event_code && test_event_code->empty()) {
    return usage_error(kCommand, "--test-event-code needs a value");
  }
  if (send && !http_available()) {
    std::fprintf(stderr,
                 "callhook %.*s: --send is not available in the WASI build (it has no network): "
                 "run the native callhook\n",
                 static_cast<int>(kCommand.size()), kCommand.data());
    return kExitUsage;
  }
  const std::string& name = rest[0];

  auto loaded = load_engine(kCommand, *config_path);
  if (!loaded) return kExitUsage;
  const Destination* configured = loaded->config().destination(name);
  if (configured == nullptr) {
    std::string names;
    for (const Destination& d : loaded->config().destinations) {
      names += (names.empty() ? "" : ", ") + d.name;
    }
    return usage_error(kCommand, "the config has no destination '" + name + "'" +
                                     (names.empty() ? "" : " (it has: " + names + ")"));
  }
  // The webhook's own authentication is the sender's business, not the destination's: the
  // payload is routed as if it had passed.
  Config config = loaded->config();
  config.auth = AuthConfig{};
  const Engine engine(std::move(config));
  const Destination& dest = *engine.config().destination(name);
  Masker masker(engine);

  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  const bool sample = rest.size() < 2;
  std::string payload;
  if (sample) {
    payload = sample_payload(now);
  } else {
    auto text = read_input(kCommand, rest[1]);
    if (!text) return kExitUsage;
    payload = std::move(*text);
  }

  Request request;
  request.method = "POST";
  request.url = "/hook";
  request.body = payload;
  const Outcome outcome = engine.handle(request, now);
  const std::int64_t now_ms = clock_ms();

  std::vector<const Delivery*> mine;
  for (const Delivery& d : outcome.deliveries) {
    if (d.destination == name) mine.push_back(&d);
  }
  const std::vector<RouteView> routes = route_views(engine.config(), outcome, name);

  std::vector<std::string> reasons;
  if (mine.empty()) {
    if (!outcome.report.valid || outcome.response.status >= 300) {
      reasons.push_back("the payload was refused (HTTP " + std::to_string(outcome.response.status) +
                        "), so no route was evaluated");
      for (const Diagnostic& d : outcome.report.errors) {
        reasons.push_back((d.field.empty() ? std::string("(payload)") : d.field) + ": " +
                          masker.clean(d.message) + " (" + d.code + ")");
      }
    } else {
      bool any = false;
      for (const RouteView& r : routes) {
        if (!r.sends_here) continue;
        any = true;
        reasons.push_back("route " + r.name + ": " + r.why);
      }
      if (!any) reasons.push_back("no route sends to " + name);
    }
  }

  // With --send, every check is built before anything is sent: a format with no check of its
  // own (or Meta with no test event code) is refused, and nothing goes out.
  std::vector<std::optional<Delivery>> checks(mine.size());
  if (send) {
    for (std::size_t i = 0; i < mine.size(); ++i) {
      std::string problem;
      checks[i] = check_request(dest, *mine[i], test_event_code.value_or(""), problem);
      if (!checks[i]) {
        if (problem.empty()) {
          problem =
              "the " + std::string(to_string(dest.format)) + " format has no check of its own";
        } else if (dest.format == RenderFormat::meta_capi && !test_event_code) {
          problem += " (--test-event-code CODE)";
        }
        std::fprintf(stderr,
                     "callhook %.*s: cannot --send to %s: %s; nothing was sent (a real delivery "
                     "is never sent from here)\n",
                     static_cast<int>(kCommand.size()), kCommand.data(), name.c_str(),
                     masker.clean(problem).c_str());
        return kExitUsage;
      }
    }
  }

  // Each delivery: its request as it would be sent; with --send, the platform's check.
  std::vector<Checked> checked;
  TokenCache cache;
  for (std::size_t i = 0; i < mine.size(); ++i) {
    Checked c;
    c.delivery = mine[i];
    plan_for_display(engine, masker, engine.seal(*mine[i]), now_ms, c.token_request, c.request,
                     c.not_sent);
    if (c.not_sent || c.request.method.empty()) c.request = masker.show(*mine[i]);
    if (send && !c.not_sent) run_check(engine, masker, dest, c, *checks[i], now_ms, cache);
    checked.push_back(std::move(c));
  }

  int status = mine.empty() ? kExitRejected : kExitOk;
  bool all_accepted = !mine.empty();
  for (const Checked& c : checked) {
    if (c.not_sent) {
      status = std::max(status, kExitRejected);
      all_accepted = false;
    } else if (send) {
      if (c.unreachable) {
        status = kExitUnreachable;
      } else if (!c.accepted) {
        status = std::max(status, kExitRejected);
      }
      all_accepted = all_accepted && c.accepted;
    }
  }

  const std::string event =
      outcome.report.event ? std::string(to_string(*outcome.report.event)) : std::string();
  std::string call_sid;
  if (const json canonical = json::parse(outcome.canonical, nullptr, false);
      canonical.is_object() && canonical.contains("call") && canonical["call"].is_object()) {
    call_sid = canonical["call"].value("sid", std::string());
  }

  Output out;
  if (as_json) {
    json doc;
    doc["destination"] = name;
    doc["format"] = std::string(to_string(dest.format));
    doc["event"] = event.empty() ? json(nullptr) : json(event);
    doc["call_sid"] = call_sid.empty() ? json(nullptr) : json(call_sid);
    doc["sample"] = sample;
    doc["deliveries"] = json::array();
    for (const Checked& c : checked) {
      json d;
      d["route"] = c.delivery->route;
      d["trigger"] = c.delivery->trigger;
      d["idempotency_key"] = c.delivery->idempotency_key;
      d["token_request"] = c.token_request ? shown_json(*c.token_request) : json(nullptr);
      d["request"] = shown_json(c.request);
      d["not_sent"] = c.not_sent ? verdict_json(*c.not_sent, masker) : json(nullptr);
      if (c.checked) {
        json k;
        k["kind"] = check_kind(dest.format);
        k["request"] = c.check_request ? shown_json(*c.check_request) : json(nullptr);
        k["token"] = c.token;
        k["answer"] = c.answer;
        k["accepted"] = c.accepted;
        k["messages"] = c.messages;
        d["check"] = std::move(k);
      } else {
        d["check"] = nullptr;
      }
      doc["deliveries"].push_back(std::move(d));
    }
    doc["routes"] = json::array();
    for (const RouteView& r : routes) {
      doc["routes"].push_back(json{{"name", r.name},
                                   {"on", r.on},
                                   {"sends_here", r.sends_here},
                                   {"matched", r.matched ? json(*r.matched) : json(nullptr)},
                                   {"skipped", r.skipped},
                                   {"why", r.why}});
    }
    doc["reasons"] = reasons;
    doc["accepted"] = send ? json(all_accepted) : json(nullptr);
    out.line(doc.dump(2, ' ', false, json::error_handler_t::replace));
    return status;
  }

  const std::string what = std::string(sample ? "the sample " : "") +
                           (event.empty() ? std::string("payload") : event) +
                           (call_sid.empty() ? "" : " " + call_sid);
  out.line(name + " (" + std::string(to_string(dest.format)) + "): " + std::to_string(mine.size()) +
           (mine.size() == 1 ? " delivery" : " deliveries") + " for " + what);
  if (mine.empty()) {
    for (const std::string& r : reasons) out.line("  " + r);
    bool listed = false;
    for (const RouteView& r : routes) {
      if (r.sends_here) continue;
      if (!listed) out.line("other routes:");
      listed = true;
      out.line("  " + r.name + ": " + r.why);
    }
    std::fprintf(stderr, "callhook %.*s: nothing goes to %s for this payload\n",
                 static_cast<int>(kCommand.size()), kCommand.data(), name.c_str());
    return status;
  }
  out.line("Secrets are shown as ${NAME}, never their values.");
  for (const Checked& c : checked) {
    const Delivery& d = *c.delivery;
    out.line("");
    out.line("== route " + d.route + " (on " + d.trigger + ") -> " + name);
    if (c.token_request) {
      out.line("-- token request (oauth2: an access token is fetched from the token URL first)");
      print_request(out, *c.token_request);
      out.line("");
    }
    out.line("-- request");
    print_request(out, c.request);
    if (c.not_sent) {
      out.line("");
      out.line("-- the engine would not send it: " + masker.clean(c.not_sent->reason) + " (" +
               c.not_sent->code + ")");
    }
    if (!c.checked) continue;
    if (!c.token.is_null()) {
      out.line("");
      if (c.token.value("obtained", false)) {
        out.line("-- access token: obtained from the token URL (not shown)");
      } else {
        std::string line =
            "-- access token: not obtained: " + c.token.value("reason", std::string()) + " (" +
            c.token.value("code", std::string()) + ")";
        out.line(line);
        out.line("-- verdict: not checked (no access token)");
        continue;
      }
    }
    if (c.check_request) {
      out.line("");
      out.line("-- check sent: " + check_kind(dest.format));
      print_request(out, *c.check_request);
    }
    out.line("");
    if (c.answer.is_object() && c.answer.contains("error")) {
      out.line("-- no answer: " + c.answer.value("error", std::string()));
      out.line("-- verdict: not checked");
      continue;
    }
    if (c.answer.is_object() && c.answer.contains("status")) {
      out.line("-- answer: HTTP " + std::to_string(c.answer.value("status", 0L)));
    }
    out.line(std::string("-- verdict: ") + (c.accepted ? "accepted" : "rejected"));
    for (const std::string& m : c.messages) out.line("   " + m);
  }
  if (send) {
    std::size_t accepted = 0;
    for (const Checked& c : checked) accepted += c.accepted ? 1 : 0;
    out.line("");
    out.line(std::to_string(accepted) + " of " + std::to_string(checked.size()) +
             (checked.size() == 1 ? " delivery" : " deliveries") + " accepted by the platform");
  }
  return status;
}

}  // namespace callhook::cli
