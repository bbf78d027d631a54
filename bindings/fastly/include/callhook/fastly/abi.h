// The Fastly Compute hostcalls callhook uses, declared as wasm imports exactly as the witx in
// shared/fastly-abi lowers them: handles, u32 enums and flags, usize and pointers are i32, u64 is
// i64, a string or list is (pointer, length), and a result `(expected T (error $fastly_status))`
// returns the status with T written through an out-pointer appended to the parameters.
// Only these are imported; tests/js/fastly.test.mjs checks every import against the witx.
#pragma once

#include <cstddef>
#include <cstdint>

#define CALLHOOK_FASTLY_IMPORT(module, name) \
  __attribute__((import_module(#module), import_name(#name)))

namespace callhook::fastly::abi {

using Handle = std::uint32_t;
using StatusCode = std::uint32_t;

/// $kv_insert_config (typenames.witx): 32 bytes, 8-aligned.
struct KvInsertConfig {
  std::uint32_t mode = 0;  // $kv_insert_mode: overwrite, add, append, prepend
  std::uint32_t unused = 0;
  const char* metadata = nullptr;
  std::uint32_t metadata_len = 0;
  std::uint32_t time_to_live_sec = 0;
  std::uint64_t if_generation_match = 0;
};

/// $kv_list_config (typenames.witx): 24 bytes.
struct KvListConfig {
  std::uint32_t mode = 0;  // $kv_list_mode: strong, eventual
  const char* cursor = nullptr;
  std::uint32_t cursor_len = 0;
  std::uint32_t limit = 0;
  const char* prefix = nullptr;
  std::uint32_t prefix_len = 0;
};

#if defined(__wasm32__)
static_assert(sizeof(KvInsertConfig) == 32 && alignof(KvInsertConfig) == 8);
static_assert(sizeof(KvListConfig) == 24);
#endif

extern "C" {
// clang-format off
CALLHOOK_FASTLY_IMPORT(fastly_abi, init) StatusCode fastly_abi_init(std::uint64_t abi_version);

CALLHOOK_FASTLY_IMPORT(fastly_http_req, body_downstream_get)
StatusCode req_body_downstream_get(Handle* req_out, Handle* body_out);
CALLHOOK_FASTLY_IMPORT(fastly_http_req, method_get)
StatusCode req_method_get(Handle req, char* buf, std::size_t buf_len, std::size_t* nwritten);
CALLHOOK_FASTLY_IMPORT(fastly_http_req, uri_get)
StatusCode req_uri_get(Handle req, char* buf, std::size_t buf_len, std::size_t* nwritten);
CALLHOOK_FASTLY_IMPORT(fastly_http_req, header_names_get)
StatusCode req_header_names_get(Handle req, char* buf, std::size_t buf_len, std::uint32_t cursor,
                                std::int64_t* ending_cursor, std::size_t* nwritten);
CALLHOOK_FASTLY_IMPORT(fastly_http_req, header_values_get)
StatusCode req_header_values_get(Handle req, const char* name, std::size_t name_len, char* buf,
                                 std::size_t buf_len, std::uint32_t cursor,
                                 std::int64_t* ending_cursor, std::size_t* nwritten);
CALLHOOK_FASTLY_IMPORT(fastly_http_req, new) StatusCode req_new(Handle* req_out);
CALLHOOK_FASTLY_IMPORT(fastly_http_req, method_set)
StatusCode req_method_set(Handle req, const char* method, std::size_t len);
CALLHOOK_FASTLY_IMPORT(fastly_http_req, uri_set)
StatusCode req_uri_set(Handle req, const char* uri, std::size_t len);
CALLHOOK_FASTLY_IMPORT(fastly_http_req, header_append)
StatusCode req_header_append(Handle req, const char* name, std::size_t name_len,
                             const char* value, std::size_t value_len);
CALLHOOK_FASTLY_IMPORT(fastly_http_req, send)
StatusCode req_send(Handle req, Handle body, const char* backend, std::size_t backend_len,
                    Handle* resp_out, Handle* body_out);

CALLHOOK_FASTLY_IMPORT(fastly_http_resp, new) StatusCode resp_new(Handle* resp_out);
CALLHOOK_FASTLY_IMPORT(fastly_http_resp, status_set)
StatusCode resp_status_set(Handle resp, std::uint32_t status);
CALLHOOK_FASTLY_IMPORT(fastly_http_resp, status_get)
StatusCode resp_status_get(Handle resp, std::uint16_t* status_out);
CALLHOOK_FASTLY_IMPORT(fastly_http_resp, header_append)
StatusCode resp_header_append(Handle resp, const char* name, std::size_t name_len,
                              const char* value, std::size_t value_len);
CALLHOOK_FASTLY_IMPORT(fastly_http_resp, header_value_get)
StatusCode resp_header_value_get(Handle resp, const char* name, std::size_t name_len, char* value,
                                 std::size_t value_max_len, std::size_t* nwritten);
CALLHOOK_FASTLY_IMPORT(fastly_http_resp, send_downstream)
StatusCode resp_send_downstream(Handle resp, Handle body, std::uint32_t streaming);
CALLHOOK_FASTLY_IMPORT(fastly_http_resp, close) StatusCode resp_close(Handle resp);

CALLHOOK_FASTLY_IMPORT(fastly_http_body, new) StatusCode body_new(Handle* body_out);
CALLHOOK_FASTLY_IMPORT(fastly_http_body, read)
StatusCode body_read(Handle body, std::uint8_t* buf, std::size_t buf_len, std::size_t* nread);
CALLHOOK_FASTLY_IMPORT(fastly_http_body, write)
StatusCode body_write(Handle body, const std::uint8_t* buf, std::size_t buf_len, std::uint32_t end,
                      std::size_t* nwritten);
CALLHOOK_FASTLY_IMPORT(fastly_http_body, close) StatusCode body_close(Handle body);

CALLHOOK_FASTLY_IMPORT(fastly_log, endpoint_get)
StatusCode log_endpoint_get(const char* name, std::size_t name_len, Handle* endpoint_out);
CALLHOOK_FASTLY_IMPORT(fastly_log, write)
StatusCode log_write(Handle endpoint, const char* msg, std::size_t msg_len, std::size_t* nwritten);

CALLHOOK_FASTLY_IMPORT(fastly_config_store, open)
StatusCode config_store_open(const char* name, std::size_t name_len, Handle* store_out);
CALLHOOK_FASTLY_IMPORT(fastly_config_store, get)
StatusCode config_store_get(Handle store, const char* key, std::size_t key_len, char* value,
                            std::size_t value_max_len, std::size_t* nwritten);

CALLHOOK_FASTLY_IMPORT(fastly_secret_store, open)
StatusCode secret_store_open(const char* name, std::size_t name_len, Handle* store_out);
CALLHOOK_FASTLY_IMPORT(fastly_secret_store, get)
StatusCode secret_store_get(Handle store, const char* key, std::size_t key_len, Handle* secret_out);
CALLHOOK_FASTLY_IMPORT(fastly_secret_store, plaintext)
StatusCode secret_plaintext(Handle secret, char* buf, std::size_t buf_len, std::size_t* nwritten);

CALLHOOK_FASTLY_IMPORT(fastly_kv_store, open)
StatusCode kv_open(const char* name, std::size_t name_len, Handle* store_out);
CALLHOOK_FASTLY_IMPORT(fastly_kv_store, lookup)
StatusCode kv_lookup(Handle store, const char* key, std::size_t key_len, std::uint32_t mask,
                     const void* config, Handle* lookup_out);
CALLHOOK_FASTLY_IMPORT(fastly_kv_store, lookup_wait_v2)
StatusCode kv_lookup_wait_v2(Handle lookup, Handle* body_out, char* metadata, std::size_t metadata_len,
                             std::size_t* nwritten, std::uint64_t* generation_out,
                             std::uint32_t* kv_error_out);
CALLHOOK_FASTLY_IMPORT(fastly_kv_store, insert)
StatusCode kv_insert(Handle store, const char* key, std::size_t key_len, Handle body,
                     std::uint32_t mask, const KvInsertConfig* config, Handle* insert_out);
CALLHOOK_FASTLY_IMPORT(fastly_kv_store, insert_wait)
StatusCode kv_insert_wait(Handle insert, std::uint32_t* kv_error_out);
CALLHOOK_FASTLY_IMPORT(fastly_kv_store, delete)
StatusCode kv_delete(Handle store, const char* key, std::size_t key_len, std::uint32_t mask,
                     const void* config, Handle* delete_out);
CALLHOOK_FASTLY_IMPORT(fastly_kv_store, delete_wait)
StatusCode kv_delete_wait(Handle del, std::uint32_t* kv_error_out);
CALLHOOK_FASTLY_IMPORT(fastly_kv_store, list)
StatusCode kv_list(Handle store, std::uint32_t mask, const KvListConfig* config, Handle* list_out);
CALLHOOK_FASTLY_IMPORT(fastly_kv_store, list_wait)
StatusCode kv_list_wait(Handle list, Handle* body_out, std::uint32_t* kv_error_out);
// clang-format on
}  // extern "C"

}  // namespace callhook::fastly::abi
