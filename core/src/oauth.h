// OAuth 2.0 access tokens for destinations whose `auth` is `oauth2` (internal to the core): the
// token request Engine::plan_send gives a shell (RFC 6749 section 6, the refresh-token grant, or
// section 4.4, the client-credentials grant), and what keeps credentials out of reasons and logs.
#pragma once

#include <string>
#include <string_view>

#include "callhook/config.h"
#include "callhook/engine.h"

namespace callhook::detail {

/// The token request for `destination`'s oauth2 auth, labelled as `delivery` (route,
/// destination, idempotency key, call) so that a shell can tell whose it is: POST token_url,
/// `Content-Type: application/x-www-form-urlencoded`, `Accept: application/json`, the form body
/// of the grant (values percent-encoded), the client's credentials in the body (refresh-token
/// grant) or as HTTP Basic (client-credentials grant, RFC 6749 section 2.3.1), the
/// destination's timeout. No deadline: it is not the delivery.
[[nodiscard]] Delivery token_request(const Destination& destination, const Delivery& delivery);

/// `text` with `destination`'s own credentials (its auth's token, header value, client secret
/// and refresh token, of 4 bytes or more, even when written literally in the config) replaced by
/// `[secret]`, and what looks like credentials after `Bearer ` or `Basic ` (16 token characters
/// or more, a digit among them) by `[credentials]`: a destination's answer that echoes the
/// request must not put them in a reason or a log line.
[[nodiscard]] std::string scrub_credentials(std::string_view text, const Destination* destination);

}  // namespace callhook::detail
