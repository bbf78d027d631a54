#!/usr/bin/env python3
"""Writes tests/vectors/engine/senders.json and tests/vectors/correlation/senders.json: webhooks
of Twilio, CallRail, CTM and Ringba, each signed as its platform signs it (the algorithms of
the senders contract: Twilio HMAC-SHA1 over URL + sorted params, CallRail HMAC-SHA1 over
the body, CTM HMAC-SHA1 over X-CTM-Time + body; Ringba has no signature, a key in its URL).
Payloads follow the platforms' documented examples (fake numbers and ids). Run it again after
changing a payload: python3 tests/vectors/make_sender_vectors.py"""
import base64, hashlib, hmac, json, os, urllib.parse

ROOT = os.path.dirname(os.path.abspath(__file__))
SECRETS = {"TWILIO_AUTH_TOKEN": "test_auth_token_0001", "CALLRAIL_KEY": "0123456789abcdef0123456789abcdef",
           "CTM_SECRET": "ctm_test_secret_0001", "RINGBA_KEY": "ringba_secret_0001"}
PUBLIC = "https://hooks.example.com"
NOW = 1736874300  # 2025-01-14T17:05:00Z

def config(extra_routes=()):
    return {
        "sources": {
            "twilio": {"sender": "twilio", "mode": "strict",
                       "auth": {"signatures": [{"scheme": "twilio", "secret": "${TWILIO_AUTH_TOKEN}", "public_url": PUBLIC}]}},
            "callrail": {"sender": "callrail",
                         "auth": {"signatures": [{"scheme": "callrail", "secret": "${CALLRAIL_KEY}"}]}},
            "ctm": {"sender": "ctm", "auth": {"signatures": [{"scheme": "ctm", "secret": "${CTM_SECRET}"}]}},
            "ringba": {"sender": "ringba", "auth": {"token": {"value": "${RINGBA_KEY}", "in": "query", "param": "key"}},
                       "defaults": {"Call.To": "+14155550199"}},
        },
        "correlation": {"enabled": True, "abandon_after_seconds": 3600},
        "destinations": {"log": {"format": "canonical", "url": "http://127.0.0.1:9400/log"}},
        "routes": [{"name": "each", "to": ["log"]}, *extra_routes],
    }

def twilio(params, path="/hook/twilio", token=SECRETS["TWILIO_AUTH_TOKEN"]):
    signed = PUBLIC + path + "".join(k + v for k, v in sorted(params))
    sig = base64.b64encode(hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()).decode()
    return {"method": "POST", "url": path,
            "headers": {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig},
            "body": urllib.parse.urlencode(params)}

def twilio_call(sid, status, extra=(), drop=()):
    base = [("AccountSid", "AC00000000000000000000000000000001"), ("ApiVersion", "2010-04-01"),
            ("CallSid", sid), ("CallStatus", status), ("From", "+14155550101"), ("To", "+14155550199"),
            ("Direction", "inbound"), ("CallbackSource", "call-progress-events"),
            ("FromCity", "SAN FRANCISCO"), ("FromState", "CA"), ("FromZip", "94107"), ("FromCountry", "US")]
    return [(k, v) for k, v in base if k not in drop] + list(extra)

def callrail(body, path="/hook/callrail"):
    text = json.dumps(body, separators=(",", ":"))
    sig = base64.b64encode(hmac.new(SECRETS["CALLRAIL_KEY"].encode(), text.encode(), hashlib.sha1).digest()).decode()
    return {"method": "POST", "url": path, "headers": {"Content-Type": "application/json", "Signature": sig}, "body": text}

def ctm(body, path="/hook/ctm", at=NOW):
    text = json.dumps(body, separators=(",", ":"))
    sig = base64.b64encode(hmac.new(SECRETS["CTM_SECRET"].encode(), (str(at) + text).encode(), hashlib.sha1).digest()).decode()
    return {"method": "POST", "url": path,
            "headers": {"Content-Type": "application/json", "X-CTM-Time": str(at), "X-CTM-Signature": sig}, "body": text}

def ringba(query, key=SECRETS["RINGBA_KEY"]):
    q = ("key=" + key + "&" if key else "") + urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
    return {"method": "GET", "url": "/hook/ringba?" + q, "headers": {}}

CALLRAIL_POST = {
    "id": 900000101, "resource_id": "CAL00000000000000000000000000000101", "answered": True,
    "business_phone_number": "+14155550150", "call_type": "answered",
    "company_id": "COM00000000000000000000000000000007", "company_name": "Example Plumbing",
    "company_time_zone": "America/Los_Angeles", "customer_city": "San Francisco", "customer_country": "US",
    "customer_name": "Pat Example", "customer_phone_number": "+14155550101", "customer_state": "CA",
    "direction": "inbound", "duration": 95, "first_call": True, "gclid": "EAIaIQobChMI-fake-gclid",
    "keywords": "emergency plumber",
    "landing_page_url": "https://www.example.com/plumbing?utm_source=google&utm_medium=cpc&utm_campaign=winter&gclid=EAIaIQobChMI-fake-gclid",
    "lead_status": None, "medium": "cpc", "campaign": "winter",
    "recording": "https://app.callrail.com/calls/CAL00000000000000000000000000000101/recording/redirect?access_key=0000fake",
    "recording_duration": "88", "source": "Google Ads", "source_name": "Website Pool",
    "start_time": "2025-01-14T09:01:30.000-08:00", "tags": [], "keypad_entries": [{"name": "menu", "value": "1"}],
    "tracker_id": "TRK00000000000000000000000000000003", "tracking_phone_number": "+14155550199",
    "utm_campaign": "winter", "utm_content": "ad-a", "utm_medium": "cpc", "utm_source": "google",
    "utm_term": "emergency plumber", "value": None, "voicemail": False, "timestamp": "2025-01-14T09:03:20.500-08:00"}
CALLRAIL_PRE = {k: v for k, v in CALLRAIL_POST.items()
                if k in ("id", "resource_id", "company_id", "company_name", "customer_city", "customer_country",
                         "customer_name", "customer_phone_number", "customer_state", "direction", "start_time",
                         "tracking_phone_number", "source", "source_name")}
CALLRAIL_PRE.update({"answered": False, "voicemail": False, "duration": 0, "call_type": "missed"})
CTM_END = {
    "id": 100000201, "account_id": 40001, "name": "Pat Example", "search": "emergency plumber",
    "referrer": "https://www.google.com/", "location": "https://www.example.com/plumbing?gclid=EAIaIQobChMI-fake-gclid",
    "source": "Google Ads", "likelihood": None, "duration": 110, "talk_time": 95, "ring_time": 15,
    "direction": "inbound", "called_at": "2025-01-14 09:01 AM -08:00", "unix_time": 1736874090,
    "tracking_number": "+14155550199", "tracking_label": "Website Pool", "business_number": "+14155550150",
    "dial_status": "completed", "caller_number": "+14155550101", "caller_number_format": "(415) 555-0101",
    "caller_number_split": ["1", "415", "555", "0101"], "is_new_caller": True, "city": "San Francisco",
    "state": "CA", "country": "US", "postal_code": "94107",
    "audio": "https://calltrackingmetrics.com/accounts/AC000fake/recordings/RE000fake", "tag_list": [],
    "notes": "", "medium": "cpc", "campaign": "winter", "ga": {"gclid": "EAIaIQobChMI-fake-gclid"},
    "call_path": [{"route_name": "Main menu", "route_type": "voice_menu"}]}
CTM_START = {k: CTM_END[k] for k in ("id", "account_id", "unix_time", "called_at", "tracking_number",
                                     "tracking_label", "caller_number", "source", "direction")}
RINGBA_FINAL = [("event", "finalized"), ("call_id", "00000000-0000-4000-8000-000000000301"),
                ("caller", "+14155550101"), ("state", "CA"), ("zip", "94107"), ("duration", "95"),
                ("recording", "https://media.example.com/rec/301.mp3"), ("campaign", "Plumbing Leads"),
                ("publisher", "Pub One"), ("target", "Example Plumbing"), ("utm_source", "google"),
                ("utm_medium", "cpc"), ("utm_campaign", "winter"), ("utm_content", "ad-a"),
                ("gclid", "EAIaIQobChMI-fake-gclid"), ("revenue", "25.00")]

def delivered(body):
    return {"status": 200, "deliveries": [{"route": "each", "destination": "log", "body": body}]}

def refused(status, errors):
    return {"status": status, "verdict_errors": errors, "deliveries": []}

engine_cases = [
    {"name": "a signed Twilio completed callback is a Call.Complete with Twilio's fields mapped",
     "request": twilio(twilio_call("CA00000000000000000000000000000042", "completed",
                                   [("CallDuration", "95"), ("Timestamp", "Tue, 14 Jan 2025 17:03:05 +0000"),
                                    ("SequenceNumber", "2")])),
     "expect": delivered({"source": {"name": "twilio", "sender": "twilio"}, "event": "Call.Complete",
                          "account": {"sid": "AC00000000000000000000000000000001"},
                          "call": {"sid": "CA00000000000000000000000000000042", "start_date": "2025-01-14T17:01:30Z",
                                   "from": {"number": "+14155550101", "anonymous": False, "country": "US",
                                            "region": "CA", "city": "SAN FRANCISCO"},
                                   "to": {"number": "+14155550199"}, "duration": 95, "disposition": "ANSWERED"},
                          "extra": {"Direction": "inbound", "SequenceNumber": "2"}})},
    {"name": "a Twilio no-answer callback from a withheld number: never answered, anonymous, no duration",
     "request": twilio(twilio_call("CA00000000000000000000000000000043", "no-answer", drop=("From",),
                                   extra=[("From", "+266696687")])),
     "expect": delivered({"event": "Call.Complete",
                          "call": {"from": {"number": None, "anonymous": True}, "duration": 0,
                                   "disposition": "NO ANSWER", "start_date": "2025-01-14T17:05:00Z"}})},
    {"name": "a Twilio ringing callback without geo is a Call.Initiate whose geo is null",
     "request": twilio(twilio_call("CA00000000000000000000000000000044", "ringing",
                                   drop=("FromCity", "FromState", "FromZip", "FromCountry"))),
     "expect": delivered({"event": "Call.Initiate",
                          "call": {"from": {"number": "+14155550101", "country": None, "region": None, "city": None}}})},
    {"name": "a Twilio callback signed with another token is refused",
     "request": twilio(twilio_call("CA00000000000000000000000000000045", "completed"), token="not-the-token"),
     "expect": {"status": 401, "deliveries": []}},
    {"name": "a Twilio callback without CallSid is refused, naming Twilio's field",
     "request": twilio(twilio_call("", "completed", drop=("CallSid",))),
     "expect": refused(400, [{"field": "CallSid", "code": "missing"}])},
    {"name": "strict Twilio: a parameter Twilio does not send is refused",
     "request": twilio(twilio_call("CA00000000000000000000000000000046", "completed", [("Surprise", "1")])),
     "expect": refused(400, [{"field": "Surprise", "code": "unknown_field"}])},
    {"name": "a signed CallRail post-call webhook is a Call.Complete (the first user report: it was refused with 400)",
     "request": callrail(CALLRAIL_POST),
     "expect": delivered({"source": {"name": "callrail", "sender": "callrail"}, "event": "Call.Complete",
                          "account": {"sid": "COM00000000000000000000000000000007"},
                          "property": {"name": "Example Plumbing"},
                          "call": {"sid": "CAL00000000000000000000000000000101", "start_date": "2025-01-14T17:01:30Z",
                                   "from": {"number": "+14155550101", "city": "San Francisco", "region": "CA", "country": "US"},
                                   "to": {"number": "+14155550199", "name": "Website Pool"}, "duration": 95,
                                   "disposition": "ANSWERED", "endpoint": "+14155550150"},
                          "attribution": {"source": "google", "medium": "cpc", "campaign": "winter", "content": "ad-a"},
                          "session": {"traffic_type": "Campaign", "keywords": "emergency plumber"},
                          "google": {"ads_click_id": "EAIaIQobChMI-fake-gclid"},
                          "extra": {"call_type": "answered", "recording_duration": "88"}})},
    {"name": "a CallRail pre-call webhook at /hook/callrail/pre-call is a Call.Initiate",
     "request": callrail(CALLRAIL_PRE, path="/hook/callrail/pre-call"),
     "expect": delivered({"event": "Call.Initiate", "call": {"sid": "CAL00000000000000000000000000000101"}})},
    {"name": "a CallRail call never answered, from an anonymous caller without geo",
     "request": callrail({**CALLRAIL_PRE, "resource_id": "CAL00000000000000000000000000000102",
                          "customer_phone_number": "", "customer_city": "", "customer_state": "",
                          "customer_country": "", "call_type": "missed", "duration": "31"}),
     "expect": delivered({"event": "Call.Complete",
                          "call": {"from": {"number": None, "anonymous": True, "city": None},
                                   "duration": 31, "disposition": "NO ANSWER"}})},
    {"name": "a CallRail webhook whose signature is of another body is refused",
     "request": {**callrail(CALLRAIL_POST), "body": json.dumps({**CALLRAIL_POST, "duration": 9999}, separators=(",", ":"))},
     "expect": {"status": 401, "deliveries": []}},
    {"name": "a CallRail webhook without start_time is refused, naming CallRail's field",
     "request": callrail({k: v for k, v in CALLRAIL_POST.items() if k != "start_time"}),
     "expect": refused(400, [{"field": "start_time", "code": "missing"}])},
    {"name": "a signed CTM end-of-call webhook is a Call.Complete with CTM's fields mapped",
     "request": ctm(CTM_END),
     "expect": delivered({"source": {"name": "ctm", "sender": "ctm"}, "event": "Call.Complete",
                          "account": {"sid": "40001"},
                          "call": {"sid": "100000201", "start_date": "2025-01-14T17:01:30Z", "duration": 110,
                                   "disposition": "ANSWERED", "to": {"name": "Website Pool"},
                                   "recording_uri": "https://calltrackingmetrics.com/accounts/AC000fake/recordings/RE000fake"},
                          "attribution": {"source": "Google Ads", "medium": "cpc", "campaign": "winter"},
                          "google": {"ads_click_id": "EAIaIQobChMI-fake-gclid"},
                          "extra": {"talk_time": "95", "ring_time": "15"}})},
    {"name": "a CTM start-of-call webhook is a Call.Initiate",
     "request": ctm(CTM_START),
     "expect": delivered({"event": "Call.Initiate", "call": {"sid": "100000201"}})},
    {"name": "a CTM busy call from an anonymous caller",
     "request": ctm({**CTM_START, "id": 100000202, "caller_number": "anonymous", "dial_status": "busy",
                     "duration": 0, "talk_time": 0}, path="/hook/ctm/end"),
     "expect": delivered({"event": "Call.Complete",
                          "call": {"from": {"anonymous": True}, "disposition": "BUSY", "duration": 0}})},
    {"name": "a CTM webhook signed long ago is refused as stale",
     "request": ctm(CTM_END, at=NOW - 3600),
     "expect": {"status": 401, "deliveries": []}},
    {"name": "a Ringba finalized pixel with its key is a Call.Complete",
     "request": ringba(RINGBA_FINAL),
     "expect": delivered({"source": {"name": "ringba", "sender": "ringba"}, "event": "Call.Complete",
                          "account": {"sid": "ringba"},
                          "call": {"sid": "00000000-0000-4000-8000-000000000301", "duration": 95,
                                   "disposition": "ANSWERED", "to": {"number": "+14155550199"},
                                   "from": {"number": "+14155550101", "region": "CA", "city": None},
                                   "recording_uri": "https://media.example.com/rec/301.mp3"},
                          "attribution": {"source": "google", "medium": "cpc", "campaign": "winter", "content": "ad-a"},
                          "extra": {"zip": "94107", "campaign": "Plumbing Leads", "revenue": "25.00"}})},
    {"name": "a Ringba finalized pixel of a call never connected is NO ANSWER",
     "request": ringba([("event", "finalized"), ("call_id", "00000000-0000-4000-8000-000000000302"),
                        ("caller", "14155550101"), ("duration", "0")]),
     "expect": delivered({"event": "Call.Complete",
                          "call": {"disposition": "NO ANSWER", "from": {"number": "+14155550101"}}})},
    {"name": "a Ringba pixel without its key is refused",
     "request": ringba(RINGBA_FINAL, key=None),
     "expect": {"status": 401, "deliveries": []}},
    {"name": "a Ringba pixel whose URL names no event is refused with unknown_event",
     "request": ringba([("call_id", "00000000-0000-4000-8000-000000000303"), ("caller", "+14155550101")]),
     "expect": refused(400, [{"field": "event", "code": "unknown_event"}])},
]
for c in engine_cases:
    c["config"] = config()
    c["secrets"] = SECRETS
    c["now"] = NOW

json.dump({"description": "Webhooks of Twilio, CallRail, CTM and Ringba through their sources, each signed as its "
                          "platform signs it (generated by tests/vectors/make_sender_vectors.py)",
           "cases": engine_cases},
          open(os.path.join(ROOT, "engine", "senders.json"), "w"), indent=1)
open(os.path.join(ROOT, "engine", "senders.json"), "a").write("\n")

def step(request, expect, now=NOW):
    return {"now": now, "request": request, "expect": expect}

corr_config = config([{"name": "done", "on": "complete", "to": ["log"]}])
sequences = [
    {"name": "each sender's start and end webhooks join into one call",
     "steps": [
         step(twilio(twilio_call("CA00000000000000000000000000000050", "initiated",
                                 [("Timestamp", "Tue, 14 Jan 2025 17:01:30 +0000"), ("SequenceNumber", "0")])),
              {"status": 200, "duplicate": False,
               "deliveries": [{"route": "each", "record_key": "twilio:AC00000000000000000000000000000001:CA00000000000000000000000000000050"}]}),
         step(twilio(twilio_call("CA00000000000000000000000000000050", "ringing",
                                 [("Timestamp", "Tue, 14 Jan 2025 17:01:31 +0000"), ("SequenceNumber", "1")])),
              {"status": 200, "duplicate": True, "deliveries": []}),
         step(twilio(twilio_call("CA00000000000000000000000000000050", "completed",
                                 [("CallDuration", "95"), ("Timestamp", "Tue, 14 Jan 2025 17:03:05 +0000"),
                                  ("SequenceNumber", "3")])),
              {"status": 200, "duplicate": False,
               "deliveries": [{"route": "each"},
                              {"route": "done", "body": {"call": {"sid": "CA00000000000000000000000000000050",
                                                                  "disposition": "ANSWERED"},
                                                         "correlation": {"initiate_seen": True, "state": "completed", "duplicates": 1}}}]}, NOW + 5),
         step(callrail(CALLRAIL_PRE, path="/hook/callrail/pre-call"),
              {"status": 200, "deliveries": [{"route": "each", "record_key": "callrail:COM00000000000000000000000000000007:CAL00000000000000000000000000000101"}]}),
         step(callrail(CALLRAIL_POST, path="/hook/callrail/post-call"),
              {"status": 200, "deliveries": [{"route": "each"}, {"route": "done"}]}, NOW + 10),
         step(callrail({**CALLRAIL_POST, "note": "called back", "changes": ["note"]}, path="/hook/callrail/updated"),
              {"status": 200, "duplicate": True, "deliveries": []}, NOW + 20),
         step(ctm(CTM_START), {"status": 200, "deliveries": [{"route": "each", "record_key": "ctm:40001:100000201"}]}),
         step(ctm(CTM_END, at=NOW + 30), {"status": 200, "deliveries": [{"route": "each"}, {"route": "done"}]}, NOW + 30),
         step(ringba([("event", "incoming"), ("call_id", "00000000-0000-4000-8000-000000000310"),
                      ("caller", "+14155550101")]),
              {"status": 200, "deliveries": [{"route": "each", "record_key": "ringba:ringba:00000000-0000-4000-8000-000000000310"}]}),
         step(ringba([("event", "finalized"), ("call_id", "00000000-0000-4000-8000-000000000310"),
                      ("caller", "+14155550101"), ("duration", "95")]),
              {"status": 200, "deliveries": [{"route": "each"}, {"route": "done"}]}, NOW + 100),
     ],
     "records": {
         "twilio:AC00000000000000000000000000000001:CA00000000000000000000000000000050": {"duplicates": 1},
         "callrail:COM00000000000000000000000000000007:CAL00000000000000000000000000000101": {"duplicates": 1},
     }},
    {"name": "the same call id from two senders makes two calls, never one",
     "steps": [
         step(twilio(twilio_call("CA00000000000000000000000000000060", "completed", [("CallDuration", "5")])),
              {"status": 200, "duplicate": False, "deliveries": [{"route": "each"}, {"route": "done"}]}),
         step(ringba([("event", "finalized"), ("call_id", "CA00000000000000000000000000000060"),
                      ("account", "AC00000000000000000000000000000001"), ("caller", "+14155550101"), ("duration", "5")]),
              {"status": 200, "duplicate": False, "deliveries": [{"route": "each"}, {"route": "done"}]}),
     ]},
]
for s in sequences:
    s["config"] = corr_config
    s["secrets"] = SECRETS
json.dump({"description": "Correlation across senders: each sender's start and end webhooks join like Initiate and "
                          "Complete, repeats are duplicates, and records are keyed by source (generated by "
                          "tests/vectors/make_sender_vectors.py)",
           "cases": sequences},
          open(os.path.join(ROOT, "correlation", "senders.json"), "w"), indent=1)
open(os.path.join(ROOT, "correlation", "senders.json"), "a").write("\n")

# ---- exchanges: the same senders through every shipped shell's HTTP entry point --------------
# The `main` exchange config has the sources (its /hook/{token} requests are unaffected); CTM
# is checked by a path token there, as its signature carries the time and the shells' clocks are
# real.
# (the sources and their secrets are written by hand in exchanges/configs.json: keep them as
# here: Twilio signed with TWILIO_AUTH_TOKEN and public_url, CallRail with CALLRAIL_KEY, CTM by
# the path token CTM_PATH_TOKEN, Ringba by the query key RINGBA_KEY)

def exchange_send(request):
    send = {"method": request["method"], "path": request["url"].split("?")[0], "headers": request["headers"]}
    if "?" in request["url"]:
        send["query"] = request["url"].split("?", 1)[1]
    if request.get("body"):
        send["body"] = request["body"]
    return send

def accepted(event, sid, routes):
    return {"status": 200, "body": {"status": "accepted", "event": event, "call_sid": sid, "routes": routes,
                                    "deliveries": len(routes)}}

TW = "CAXS0000000000000000000000000001"
CR = "CALXS000000000000000000000000002"
RB = "RBXS-0000-4000-8000-000000000003"
CT = "9300000004"
ctm_start = {**CTM_START, "id": int(CT)}
ctm_end = {**CTM_END, "id": int(CT)}
steps = [
    (0, twilio(twilio_call(TW, "initiated", [("SequenceNumber", "0")])), accepted("Call.Initiate", TW, ["each"])),
    (0.1, twilio(twilio_call(TW, "completed", [("CallDuration", "95"), ("SequenceNumber", "3")])),
     accepted("Call.Complete", TW, ["each", "done"])),
    (0.2, callrail({**CALLRAIL_PRE, "resource_id": CR}, path="/hook/callrail/pre-call"), accepted("Call.Initiate", CR, ["each"])),
    (0.3, callrail({**CALLRAIL_POST, "resource_id": CR}), accepted("Call.Complete", CR, ["each", "done"])),
    (0.4, {**ctm(ctm_start), "url": "/hook/ctm/exch-ctm-t0ken/start"}, accepted("Call.Initiate", CT, ["each"])),
    (0.5, {**ctm(ctm_end), "url": "/hook/ctm/exch-ctm-t0ken/end"}, accepted("Call.Complete", CT, ["each", "done"])),
    (0.6, ringba([("event", "incoming"), ("call_id", RB), ("caller", "+14155550101")]), accepted("Call.Initiate", RB, ["each"])),
    (0.7, ringba([("event", "finalized"), ("call_id", RB), ("caller", "+14155550101"), ("duration", "95")]),
     accepted("Call.Complete", RB, ["each", "done"])),
]
for _, request, _ in steps:  # CTM by token here: no signature headers
    request["headers"].pop("X-CTM-Signature", None)
    request["headers"].pop("X-CTM-Time", None)
deliveries = []
for at, request, expect in steps:
    sid = expect["body"]["call_sid"]
    event = expect["body"]["event"]
    deliveries.append({"destination": "sink", "key": f"{sid}:{event}:each", "attempt": 1, "after": at})
    if "done" in expect["body"]["routes"]:
        deliveries.append({"destination": "sink", "key": f"{sid}:complete:done", "attempt": 1, "after": at})
exchange = {
    "description": "Twilio, CallRail, CTM and Ringba webhooks through each shell's own entry point, at their "
                   "sources' paths, each authenticated as its platform does (generated by "
                   "tests/vectors/make_sender_vectors.py)",
    "sequences": [{
        "name": "each sender's start and end webhooks are accepted, joined and routed by every shell",
        "steps": [{"at": at, "send": exchange_send(request), "expect": expect} for at, request, expect in steps]
                 + [{"at": 0.8, "send": exchange_send(twilio(twilio_call(TW, "completed",
                                                                         [("CallDuration", "95"), ("SequenceNumber", "3")]),
                                                             token="wrong")),
                     "expect": {"status": 401}}],
        "deliveries": deliveries,
        "dead_letters": []}]}
with open(os.path.join(ROOT, "exchanges", "senders.json"), "w") as f:
    json.dump(exchange, f, indent=1)
    f.write("\n")
