// libcurl behind http_client.h; without CALLHOOK_HAVE_CURL (the WASI command) every send is a
// transport error that says this build has no network.
#include "http_client.h"

#include <algorithm>
#include <string_view>

#if defined(CALLHOOK_HAVE_CURL)
#include <curl/curl.h>
#endif

namespace callhook::cli {

#if defined(CALLHOOK_HAVE_CURL)

namespace {

struct Collected {
  std::string* body;
  std::size_t max;
};

std::size_t collect_body(char* data, std::size_t size, std::size_t count, void* into) {
  auto* c = static_cast<Collected*>(into);
  const std::size_t n = size * count;
  if (c->body->size() + n > c->max) return 0;  // too long: libcurl aborts the transfer
  c->body->append(data, n);
  return n;
}

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                           text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

// Header lines as libcurl hands them over, one call each; a status line starts a new answer
// (a 100 Continue, say), so only the final answer's headers are kept.
std::size_t collect_header(char* data, std::size_t size, std::size_t count, void* into) {
  auto* headers = static_cast<std::vector<HttpHeader>*>(into);
  const std::size_t n = size * count;
  const std::string_view line(data, n);
  if (line.starts_with("HTTP/")) {
    headers->clear();
  } else if (const std::size_t colon = line.find(':');
             colon != std::string_view::npos && colon > 0) {
    headers->push_back(
        {std::string(line.substr(0, colon)), std::string(trimmed(line.substr(colon + 1)))});
  }
  return n;
}

}  // namespace

bool http_available() {
  return true;
}

HttpReply http_send(const HttpCall& call) {
  HttpReply reply;
  static const bool initialised = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  CURL* curl = initialised ? curl_easy_init() : nullptr;
  if (curl == nullptr) {
    reply.error = "libcurl could not be initialised";
    return reply;
  }
  curl_slist* headers = nullptr;
  std::vector<std::string> lines;
  lines.reserve(call.headers.size());
  for (const HttpHeader& h : call.headers) {
    // "Name:" alone would make libcurl drop the header: "Name;" sends it empty.
    lines.push_back(h.value.empty() ? h.name + ";" : h.name + ": " + h.value);
    headers = curl_slist_append(headers, lines.back().c_str());
  }
  // libcurl adds these unless told not to; the request is sent as the caller built it.
  if ((call.has_body || call.method != "GET") &&
      std::none_of(call.headers.begin(), call.headers.end(), [](const HttpHeader& h) {
        return h.name.size() == 12 && curl_strnequal(h.name.c_str(), "Content-Type", 12);
      })) {
    headers = curl_slist_append(headers, "Content-Type:");
  }
  headers = curl_slist_append(headers, "Expect:");
  char problem[CURL_ERROR_SIZE] = {0};
  Collected body{&reply.body, call.max_body};
  const long timeout = static_cast<long>(std::max<std::int64_t>(call.timeout_ms, 1));
  const long connect_timeout =
      static_cast<long>(std::clamp<std::int64_t>(call.connect_timeout_ms, 1, timeout));
  curl_easy_setopt(curl, CURLOPT_URL, call.url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "callhook/0.1.0");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);  // credentials go nowhere else
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, problem);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &collect_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &collect_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &reply.headers);
  if (call.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (call.method != "GET" || call.has_body) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, call.body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(call.body.size()));
    if (call.method != "POST") curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, call.method.c_str());
  }
  const CURLcode code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (code == CURLE_OK) {
    reply.kind = HttpReply::Kind::answered;
    return reply;
  }
  reply.kind = code == CURLE_OPERATION_TIMEDOUT ? HttpReply::Kind::timeout
                                                : HttpReply::Kind::transport_error;
  reply.error = problem[0] != 0 ? problem : curl_easy_strerror(code);
  if (code == CURLE_WRITE_ERROR) {  // only collect_body refuses to write
    reply.error = "the answer is longer than " + std::to_string(call.max_body) + " bytes";
  }
  reply.headers.clear();
  reply.body.clear();
  reply.status = 0;
  return reply;
}

#else

bool http_available() {
  return false;
}

HttpReply http_send(const HttpCall&) {
  HttpReply reply;
  reply.error = "this build has no network";
  return reply;
}

#endif

}  // namespace callhook::cli
