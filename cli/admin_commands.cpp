// callhook deadletters list|show|redrive|purge and callhook erase: the admin API of a running
// function (the Node function, the Worker, the Fastly program: README, "The admin commands") over
// HTTP with libcurl (http_client.h). Native builds only: the WASI command has no sockets, and
// says so.
//
// The token is read from CALLHOOK_ADMIN_TOKEN only, never from a flag, so it stays out of shell
// history and process lists. Exit statuses: 0 done, 1 the server said no (or answered something
// that is not the admin API's), 2 usage, 3 the server could not be reached.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "callhook/erasure.h"
#include "cli_io.h"
#include "commands.h"
#include "http_client.h"
#include "value_formats.h"

namespace callhook::cli {
namespace {

using nlohmann::json;

constexpr std::string_view kConnection =
    "Connection (every command):\n"
    "  --admin URL       the function's address (http://127.0.0.1:8787) or its /admin URL;\n"
    "                    default: the CALLHOOK_ADMIN_URL environment variable\n"
    "  --timeout SECONDS how long to wait for the answer (default 30)\n"
    "  --json            print the server's JSON answer as it is, for scripts\n"
    "  The admin token is read from the CALLHOOK_ADMIN_TOKEN environment variable only (never a\n"
    "  flag, so it stays out of shell history); it is sent as Authorization: Bearer.\n\n"
    "Exit status: 0 done; 1 the server said no (401 a wrong token, 404 no admin API there or\n"
    "no such dead letter, 400 a request it refused), said on stderr; 2 usage (bad flags, no URL\n"
    "or token, a phone number that is not one); 3 the server could not be reached (refused,\n"
    "unknown host, timeout, TLS).\n";

constexpr std::string_view kFilters =
    "Filters (list, and redrive or purge instead of --ids):\n"
    "  --destination NAME, --route NAME, --code CODE   (the dead letter's, e.g. redirect)\n"
    "  --since TIME, --until TIME   when it died: ISO 8601 (2024-05-01T03:15:42Z, 2024-05-01,\n"
    "                    an offset such as +02:00; no zone is UTC), seconds since the epoch, or\n"
    "                    a time ago: 90s, 30m, 24h, 7d\n";

void say(std::string_view command, const std::string& message) {
  std::fprintf(stderr, "callhook %.*s: %s\n", static_cast<int>(command.size()), command.data(),
               message.c_str());
}

#if defined(CALLHOOK_HAVE_CURL)

constexpr int kExitUnreachable = 3;

// ---- times ------------------------------------------------------------------------------------

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

bool digits_at(std::string_view text, std::size_t at, std::size_t n, int& value) {
  if (at + n > text.size()) return false;
  value = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    value = value * 10 + (text[i] - '0');
  }
  return true;
}

// YYYY-MM-DD[(T| )HH:MM[:SS[.fraction]]][Z|(+|-)HH[:]MM], in milliseconds since the epoch.
std::optional<std::int64_t> iso8601_ms(std::string_view text) {
  int year = 0, month = 0, day = 0;
  if (!digits_at(text, 0, 4, year) || text.size() < 10 || text[4] != '-' || text[7] != '-' ||
      !digits_at(text, 5, 2, month) || !digits_at(text, 8, 2, day)) {
    return std::nullopt;
  }
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (month < 1 || month > 12 || day < 1 || day > kDays[month - 1] ||
      (month == 2 && day == 29 && !leap)) {
    return std::nullopt;
  }
  int hour = 0, minute = 0, second = 0;
  std::int64_t millis = 0;
  std::size_t at = 10;
  if (at < text.size() && (text[at] == 'T' || text[at] == 't' || text[at] == ' ')) {
    if (!digits_at(text, at + 1, 2, hour) || at + 3 >= text.size() || text[at + 3] != ':' ||
        !digits_at(text, at + 4, 2, minute)) {
      return std::nullopt;
    }
    at += 6;
    if (at < text.size() && text[at] == ':') {
      if (!digits_at(text, at + 1, 2, second)) return std::nullopt;
      at += 3;
      if (at < text.size() && (text[at] == '.' || text[at] == ',')) {
        ++at;
        int scale = 100;
        const std::size_t first = at;
        while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
          millis += (text[at] - '0') * scale;
          scale /= 10;
          ++at;
        }
        if (at == first) return std::nullopt;
      }
    }
    if (hour > 23 || minute > 59 || second > 60) return std::nullopt;
  }
  std::int64_t offset_minutes = 0;
  const std::string_view zone = text.substr(at);
  if (zone == "Z" || zone == "z") {
    // UTC
  } else if (!zone.empty()) {
    if (zone[0] != '+' && zone[0] != '-') return std::nullopt;
    int zh = 0, zm = 0;
    if (!digits_at(zone, 1, 2, zh)) return std::nullopt;
    const std::size_t m_at = zone.size() > 3 && zone[3] == ':' ? 4 : 3;
    if (!digits_at(zone, m_at, 2, zm) || zone.size() != m_at + 2 || zh > 23 || zm > 59) {
      return std::nullopt;
    }
    offset_minutes = (zh * 60 + zm) * (zone[0] == '-' ? -1 : 1);
  }
  const std::int64_t seconds = callhook::detail::days_from_civil(year, static_cast<unsigned>(month),
                                                                 static_cast<unsigned>(day)) *
                                   86400 +
                               hour * 3600 + minute * 60 + second - offset_minutes * 60;
  return seconds * 1000 + millis;
}

// --since and --until: ISO 8601, epoch seconds (fractions allowed) or a time ago (90s, 24h).
std::optional<std::int64_t> time_ms(std::string_view text, std::int64_t now) {
  if (text.empty()) return std::nullopt;
  const char unit = text.back();
  if (unit == 's' || unit == 'm' || unit == 'h' || unit == 'd') {
    const std::string_view count = text.substr(0, text.size() - 1);
    if (count.empty() || count.size() > 9) return std::nullopt;
    std::int64_t n = 0;
    for (const char c : count) {
      if (c < '0' || c > '9') return std::nullopt;
      n = n * 10 + (c - '0');
    }
    const std::int64_t scale = unit == 's'   ? 1000
                               : unit == 'm' ? 60000
                               : unit == 'h' ? 3600000
                                             : 86400000;
    return now - n * scale;
  }
  bool number = true;
  int dots = 0;
  for (const char c : text) {
    if (c == '.') {
      ++dots;
    } else if (c < '0' || c > '9') {
      number = false;
    }
  }
  if (number && dots <= 1 && text.size() <= 16 && text.front() != '.') {
    const double seconds = std::strtod(std::string(text).c_str(), nullptr);
    return static_cast<std::int64_t>(seconds * 1000.0);
  }
  return iso8601_ms(text);
}

std::string iso_of_ms(const json& value) {
  if (!value.is_number()) return "-";
  const std::int64_t ms = value.get<std::int64_t>();
  std::int64_t days = ms / 86400000;
  std::int64_t rest = ms % 86400000;
  if (rest < 0) {
    rest += 86400000;
    --days;
  }
  const detail::Civil c = detail::civil_from_days(days);
  char out[64];
  std::snprintf(out, sizeof out, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ",
                static_cast<long long>(c.year), c.month, c.day,
                static_cast<long long>(rest / 3600000), static_cast<long long>(rest / 60000 % 60),
                static_cast<long long>(rest / 1000 % 60));
  return out;
}

// ---- the request ------------------------------------------------------------------------------

std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

struct Connection {
  std::string admin;  // ends in /admin, no slash after it
  std::string token;
  long timeout_seconds = 30;
  bool json = false;
};

// Scheme, host and the rest of an http(s) URL; nullopt for anything else.
struct UrlParts {
  std::string scheme;
  std::string host;
  std::string path;
};

std::optional<UrlParts> url_parts(std::string_view url) {
  UrlParts parts;
  const auto colon = url.find("://");
  if (colon == std::string_view::npos) return std::nullopt;
  parts.scheme = std::string(url.substr(0, colon));
  for (char& c : parts.scheme) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (parts.scheme != "http" && parts.scheme != "https") return std::nullopt;
  const std::string_view rest = url.substr(colon + 3);
  const auto slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) return std::nullopt;
  if (authority.empty()) return std::nullopt;
  std::string_view host = authority;
  if (host.front() == '[') {
    host = host.substr(0, host.find(']') + 1);
  } else {
    host = host.substr(0, host.find(':'));
  }
  parts.host = std::string(host);
  if (slash != std::string_view::npos) {
    const std::string_view path = rest.substr(slash);
    if (path.find_first_of("?#") != std::string_view::npos) return std::nullopt;
    parts.path = std::string(path);
  }
  return parts;
}

bool loopback(std::string_view host) {
  return host == "localhost" || host.starts_with("127.") || host == "[::1]" ||
         host.ends_with(".localhost");
}

// The options every command shares, consumed from `args`; nullopt (a usage error said) when
// they are missing or wrong.
std::optional<Connection> connection(std::string_view command, Args& args) {
  Connection c;
  c.json = args.flag("--json");
  const auto admin = args.option("--admin");
  const auto timeout = args.option("--timeout");
  if (args.flag("--token") || args.option("--token")) {
    usage_error(command,
                "the admin token is read from CALLHOOK_ADMIN_TOKEN only, never from a flag (so it "
                "stays out of shell history)");
    return std::nullopt;
  }
  std::string url;
  if (admin) {
    url = *admin;
  } else if (const char* env = std::getenv("CALLHOOK_ADMIN_URL"); env != nullptr && *env != 0) {
    url = env;
  } else {
    usage_error(command, "say where the admin API is: --admin URL or CALLHOOK_ADMIN_URL");
    return std::nullopt;
  }
  const auto parts = url_parts(url);
  if (!parts) {
    usage_error(command,
                "--admin must be an http:// or https:// URL with no user, query or "
                "fragment, like http://127.0.0.1:8787, not " +
                    url);
    return std::nullopt;
  }
  while (url.ends_with('/')) url.pop_back();
  if (!url.ends_with("/admin")) url += "/admin";
  c.admin = url;
  const char* token = std::getenv("CALLHOOK_ADMIN_TOKEN");
  if (token == nullptr || *token == 0) {
    usage_error(command,
                "set CALLHOOK_ADMIN_TOKEN to the admin token (the function's own "
                "CALLHOOK_ADMIN_TOKEN)");
    return std::nullopt;
  }
  c.token = token;
  for (const char ch : c.token) {
    const auto u = static_cast<unsigned char>(ch);
    if (u <= 0x20 || u == 0x7f) {
      usage_error(command, "CALLHOOK_ADMIN_TOKEN holds a space or control character");
      return std::nullopt;
    }
  }
  if (timeout) {
    char* end = nullptr;
    errno = 0;
    const long seconds = std::strtol(timeout->c_str(), &end, 10);
    if (errno != 0 || end == timeout->c_str() || *end != 0 || seconds < 1 || seconds > 3600) {
      usage_error(command, "--timeout is a whole number of seconds from 1 to 3600");
      return std::nullopt;
    }
    c.timeout_seconds = seconds;
  }
  if (parts->scheme == "http" && !loopback(parts->host)) {
    say(command, "warning: the admin token goes to " + parts->host +
                     " over plain http; use https outside this machine");
  }
  return c;
}

struct Answer {
  long status = 0;
  std::string body;
};

// One request to the admin API; nullopt (said on stderr) when there was no HTTP answer.
std::optional<Answer> send(std::string_view command, const Connection& c, const char* method,
                           const std::string& path, const std::string* body) {
  HttpCall call;
  call.method = method;
  call.url = c.admin + path;
  call.headers.push_back({"Authorization", "Bearer " + c.token});
  call.headers.push_back({"Accept", "application/json"});
  if (body != nullptr) {
    call.headers.push_back({"Content-Type", "application/json"});
    call.has_body = true;
    call.body = *body;
  }
  call.timeout_ms = std::int64_t{c.timeout_seconds} * 1000;
  call.connect_timeout_ms = std::min(c.timeout_seconds, 10L) * 1000;
  HttpReply reply = http_send(call);  // past 64 MiB: not the admin API
  if (reply.kind != HttpReply::Kind::answered) {
    say(command, "cannot reach the admin API at " + c.admin + ": " + reply.error);
    return std::nullopt;
  }
  return Answer{reply.status, std::move(reply.body)};
}

// The answer's JSON when it is a 200 with a JSON object; otherwise the server's no, said on
// stderr, and nullopt.
std::optional<json> accepted(std::string_view command, const Connection& c, const Answer& answer,
                             std::string_view what) {
  const json doc = json::parse(answer.body, nullptr, false);
  if (answer.status == 200) {
    if (doc.is_object()) return doc;
    say(command, "the server at " + c.admin +
                     " answered 200 with something that is not the admin API's JSON; is --admin "
                     "its URL?");
    return std::nullopt;
  }
  const std::string code = doc.is_object() ? doc.value("code", std::string()) : std::string();
  const std::string detail = doc.is_object() ? doc.value("detail", std::string()) : std::string();
  std::string message = "the server answered " + std::to_string(answer.status);
  if (!code.empty()) message += " " + code;
  if (!detail.empty()) message += ": " + detail;
  if (answer.status == 401) {
    message += " (check CALLHOOK_ADMIN_TOKEN: it must be the function's admin token)";
  } else if (answer.status == 404 && code == "dead_letter_not_found") {
    message = "no dead letter " + std::string(what) + " (404 dead_letter_not_found)";
  } else if (answer.status == 404) {
    message +=
        " (the admin API is off there, as no admin token is configured, or --admin is "
        "not the function's URL)";
  } else if (code.empty()) {
    message += " (not a problem document: is --admin the function's URL?)";
  }
  say(command, message);
  return std::nullopt;
}

// Sends and reads the answer; the exit status when it is not a 200 (1 said no, 3 unreachable).
struct Result {
  std::optional<json> doc;
  int exit = kExitOk;
};

Result call(std::string_view command, const Connection& c, const char* method,
            const std::string& path, const std::string* body, std::string_view what = {}) {
  Result r;
  const auto answer = send(command, c, method, path, body);
  if (!answer) {
    r.exit = kExitUnreachable;
    return r;
  }
  r.doc = accepted(command, c, *answer, what);
  if (!r.doc) {
    r.exit = kExitRejected;
    return r;
  }
  if (c.json) {
    Output output;
    output.line(answer->body);
  }
  return r;
}

// ---- selections -------------------------------------------------------------------------------

struct Filter {
  json fields = json::object();  // destination, route, code, since_ms, until_ms
  bool any = false;
};

std::optional<Filter> filter_of(std::string_view command, Args& args) {
  Filter f;
  const std::int64_t now = now_ms();
  for (const char* name : {"destination", "route", "code"}) {
    if (const auto value = args.option(std::string("--") + name)) {
      if (value->empty()) {
        usage_error(command, std::string("--") + name + " needs a value");
        return std::nullopt;
      }
      f.fields[name] = *value;
      f.any = true;
    }
  }
  for (const char* name : {"since", "until"}) {
    if (const auto value = args.option(std::string("--") + name)) {
      const auto ms = time_ms(*value, now);
      if (!ms || *ms < 0) {
        usage_error(command, std::string("--") + name + " is ISO 8601 (2024-05-01T03:15:42Z), " +
                                 "seconds since the epoch or a time ago (24h, 7d), not " + *value);
        return std::nullopt;
      }
      f.fields[std::string(name) + "_ms"] = *ms;
      f.any = true;
    }
  }
  return f;
}

std::vector<std::string> split_ids(const std::string& list) {
  std::vector<std::string> ids;
  std::size_t start = 0;
  while (start <= list.size()) {
    const auto comma = list.find(',', start);
    const std::string id =
        list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!id.empty()) ids.push_back(id);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return ids;
}

// ---- output -----------------------------------------------------------------------------------

std::string text_of(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "-";
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

// One line of text for a table cell: control characters as spaces, at most `width` bytes.
std::string cell(const json& value, std::size_t width = 0) {
  std::string text = text_of(value);
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  if (width > 0 && text.size() > width) {
    text.resize(width - 3);
    while (!text.empty() && (static_cast<unsigned char>(text.back()) & 0xC0) == 0x80) {
      text.pop_back();
    }
    if (!text.empty() && static_cast<unsigned char>(text.back()) >= 0xC0) text.pop_back();
    text += "...";
  }
  return text.empty() ? "-" : text;
}

void print_table(Output& out, const std::vector<std::vector<std::string>>& rows) {
  if (rows.empty()) return;
  std::vector<std::size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out.line(line);
  }
}

void print_list(const json& doc) {
  Output out;
  const json letters = doc.value("dead_letters", json::array());
  std::vector<std::vector<std::string>> rows = {
      {"ID", "DEAD AT", "DESTINATION", "ROUTE", "CODE", "ATTEMPTS", "CALL", "REASON"}};
  for (const json& l : letters) {
    if (!l.is_object()) continue;
    rows.push_back({cell(l.value("id", json())), iso_of_ms(l.value("dead_at_ms", json())),
                    cell(l.value("destination", json())), cell(l.value("route", json())),
                    cell(l.value("code", json())), cell(l.value("attempts", json())),
                    cell(l.value("call_sid", json())), cell(l.value("reason", json()), 60)});
  }
  if (rows.size() > 1) print_table(out, rows);
  const std::size_t count = doc.value("count", letters.size());
  out.line(std::to_string(count) + (count == 1 ? " dead letter" : " dead letters"));
}

void print_letter(const json& l) {
  Output out;
  std::vector<std::vector<std::string>> rows;
  for (const char* key : {"id", "route", "destination", "idempotency_key", "call_sid", "record_key",
                          "attempts", "code", "reason"}) {
    rows.push_back({std::string(key) + ":", cell(l.value(key, json()))});
  }
  rows.push_back({"dead_at:", iso_of_ms(l.value("dead_at_ms", json()))});
  rows.push_back({"enqueued_at:", iso_of_ms(l.value("enqueued_at_ms", json()))});
  print_table(out, rows);
  const json history = l.value("history", json::array());
  if (history.is_array() && !history.empty()) {
    out.line("");
    out.line("history:");
    std::vector<std::vector<std::string>> attempts = {{"  AT", "STATUS", "CODE", "REASON"}};
    for (const json& a : history) {
      if (!a.is_object()) continue;
      attempts.push_back({"  " + iso_of_ms(a.value("at_ms", json())),
                          cell(a.value("status", json())), cell(a.value("code", json())),
                          cell(a.value("reason", json()))});
    }
    print_table(out, attempts);
  }
  if (const auto sealed = l.find("sealed"); sealed != l.end() && sealed->is_string()) {
    out.line("");
    out.line("sealed (secrets as ${NAME} references):");
    out.line(sealed->get<std::string>());
  }
}

#endif  // CALLHOOK_HAVE_CURL

// ---- the commands -----------------------------------------------------------------------------

constexpr std::string_view kDeadLettersUsage =
    "Usage: callhook deadletters list [FILTERS] [--limit N]\n"
    "       callhook deadletters show ID\n"
    "       callhook deadletters redrive (--ids ID,ID... | FILTERS | --all) [--rerender]\n"
    "       callhook deadletters purge (--ids ID,ID... | FILTERS | --all)\n\n"
    "The dead letters of a running function (the deliveries it gave up on), through its admin\n"
    "API (README, \"The admin commands\"):\n"
    "  list     newest first, as a table (ID, when it died, destination, route, code, attempts,\n"
    "           call, reason); --limit N (default 100, the server's most 1000)\n"
    "  show     one dead letter: what it belongs to, every attempt, and its sealed text\n"
    "  redrive  sends the selected ones again, from attempt 1; --rerender renders each again\n"
    "           from its call's record with the config of now (after fixing a template), and\n"
    "           lists those that cannot be\n"
    "  purge    deletes the selected ones\n"
    "redrive and purge need a selection: --ids (comma-separated), a filter, or --all for every\n"
    "dead letter.\n\n";

int deadletters_help() {
  std::string text(kDeadLettersUsage);
  text += kFilters;
  text += "\n";
  text += kConnection;
  print_help(text);
  return kExitOk;
}

#if defined(CALLHOOK_HAVE_CURL)

int leftover(std::string_view command, const Args& args, std::size_t positionals) {
  if (args.missing_value()) return usage_error(command, *args.missing_value() + " needs a value");
  if (const auto unknown = args.unknown())
    return usage_error(command, "unknown option " + *unknown);
  if (args.positionals().size() > positionals) {
    return usage_error(command, "unexpected argument " + args.positionals()[positionals]);
  }
  return kExitOk;
}

int deadletters_list(Args& args) {
  constexpr std::string_view command = "deadletters list";
  auto conn = connection(command, args);
  if (!conn) return kExitUsage;
  const auto filter = filter_of(command, args);
  if (!filter) return kExitUsage;
  const auto limit = args.option("--limit");
  if (const int status = leftover(command, args, 0); status != kExitOk) return status;
  std::string query;
  for (const auto& [name, value] : filter->fields.items()) {
    query += (query.empty() ? "?" : "&") + name + "=" + percent_encode(text_of(value));
  }
  if (limit) {
    const bool digits = !limit->empty() && limit->size() <= 7 &&
                        limit->find_first_not_of("0123456789") == std::string::npos;
    if (!digits || std::stol(*limit) < 1) {
      return usage_error(command, "--limit is a whole number from 1");
    }
    query += (query.empty() ? "?" : "&") + std::string("limit=") + *limit;
  }
  const Result r = call(command, *conn, "GET", "/dead-letters" + query, nullptr);
  if (!r.doc) return r.exit;
  if (!conn->json) print_list(*r.doc);
  return kExitOk;
}

int deadletters_show(Args& args) {
  constexpr std::string_view command = "deadletters show";
  auto conn = connection(command, args);
  if (!conn) return kExitUsage;
  if (const int status = leftover(command, args, 1); status != kExitOk) return status;
  const auto rest = args.positionals();
  if (rest.empty() || rest[0].empty()) return usage_error(command, "name the dead letter: show ID");
  const Result r =
      call(command, *conn, "GET", "/dead-letters/" + percent_encode(rest[0]), nullptr, rest[0]);
  if (!r.doc) return r.exit;
  if (!conn->json) print_letter(*r.doc);
  return kExitOk;
}

int deadletters_change(Args& args, bool redrive) {
  const std::string_view command = redrive ? "deadletters redrive" : "deadletters purge";
  auto conn = connection(command, args);
  if (!conn) return kExitUsage;
  const auto ids = args.option("--ids");
  const bool all = args.flag("--all");
  const bool rerender = redrive && args.flag("--rerender");
  const auto filter = filter_of(command, args);
  if (!filter) return kExitUsage;
  if (const int status = leftover(command, args, 0); status != kExitOk) return status;
  const int selections = (ids ? 1 : 0) + (filter->any ? 1 : 0) + (all ? 1 : 0);
  if (selections == 0) {
    return usage_error(command,
                       "name the dead letters: --ids ID,ID..., a filter (--destination, "
                       "--route, --code, --since, --until), or --all");
  }
  if (selections > 1) return usage_error(command, "give one of --ids, a filter or --all");
  json body = json::object();
  if (ids) {
    const std::vector<std::string> list = split_ids(*ids);
    if (list.empty()) return usage_error(command, "--ids needs at least one id");
    body["ids"] = list;
  } else {
    body = filter->fields;
  }
  if (rerender) body["rerender"] = true;
  const std::string text = body.dump();
  const Result r = call(command, *conn, "POST",
                        redrive ? "/dead-letters/redrive" : "/dead-letters/purge", &text);
  if (!r.doc) return r.exit;
  if (conn->json) return kExitOk;
  Output out;
  const char* key = redrive ? "redriven" : "purged";
  out.line(std::string(key) + ": " + cell(r.doc->value(key, json())));
  const json skipped = r.doc->value("skipped", json::array());
  if (skipped.is_array()) {
    for (const json& s : skipped) {
      if (!s.is_object()) continue;
      out.line("skipped " + cell(s.value("id", json())) + ": " + cell(s.value("code", json())) +
               ": " + cell(s.value("reason", json())));
    }
  }
  return kExitOk;
}

#else

int not_in_this_build(std::string_view command) {
  say(command,
      "not available in the WASI build (it has no network): run the native callhook, or use "
      "the admin API with curl");
  return kExitUsage;
}

#endif

}  // namespace

int cmd_deadletters(int argc, char** argv) {
  const std::string_view verb = argc > 2 ? std::string_view(argv[2]) : std::string_view();
  if (verb.empty() || verb == "--help" || verb == "-h" || verb == "help" ||
      wants_help(argc, argv)) {
    if (verb.empty()) {
      return usage_error("deadletters", "name what to do: list, show, redrive or purge");
    }
    return deadletters_help();
  }
#if !defined(CALLHOOK_HAVE_CURL)
  return not_in_this_build(std::string("deadletters ") + std::string(verb));
#else
  Args args(argc, argv, 3);
  if (verb == "list") return deadletters_list(args);
  if (verb == "show") return deadletters_show(args);
  if (verb == "redrive") return deadletters_change(args, true);
  if (verb == "purge") return deadletters_change(args, false);
  return usage_error("deadletters",
                     "unknown action '" + std::string(verb) + "': list, show, redrive or purge");
#endif
}

int cmd_erase(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    std::string text =
        "Usage: callhook erase (--call-sid CA... | --phone NUMBER) [--json]\n\n"
        "Erases what a running function keeps about a call or a caller, through its admin API:\n"
        "the call records, the deliveries waiting to be sent and the dead letters that concern\n"
        "it (the core decides which: README, \"Erasure\"). Prints how many of each went.\n"
        "  --call-sid SID   one call\n"
        "  --phone NUMBER   every call from that number, in international form with its country\n"
        "                   code: +14155550123, +1 (415) 555-0123 (checked here first)\n\n";
    text += kConnection;
    print_help(text);
    return kExitOk;
  }
#if !defined(CALLHOOK_HAVE_CURL)
  return not_in_this_build("erase");
#else
  constexpr std::string_view command = "erase";
  Args args(argc, argv, 2);
  auto conn = connection(command, args);
  if (!conn) return kExitUsage;
  const auto call_sid = args.option("--call-sid");
  const auto phone = args.option("--phone");
  if (const int status = leftover(command, args, 0); status != kExitOk) return status;
  if (call_sid.has_value() == phone.has_value()) {
    return usage_error(command, "give exactly one of --call-sid SID or --phone NUMBER");
  }
  json body = json::object();
  if (call_sid) {
    if (call_sid->empty()) return usage_error(command, "--call-sid needs a value");
    body["call_sid"] = *call_sid;
  } else {
    std::string problem;
    const auto e164 = normalize_phone(*phone, problem);
    if (!e164) return usage_error(command, "--phone: " + problem);
    body["phone"] = *e164;
  }
  const std::string text = body.dump();
  const Result r = call(command, *conn, "POST", "/erase", &text);
  if (!r.doc) return r.exit;
  if (conn->json) return kExitOk;
  Output out;
  out.line("erased: " + cell(r.doc->value("records", json())) + " records, " +
           cell(r.doc->value("outbox", json())) + " outbox deliveries, " +
           cell(r.doc->value("dead_letters", json())) + " dead letters");
  return kExitOk;
#endif
}

}  // namespace callhook::cli
