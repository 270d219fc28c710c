"""The example bodies of the Exotel documents (``/work/shared/seeds``).

The tests of ``dialer.exotel`` import these constants; ``test_seeds.py`` proves each parses.
Bodies marked "seed" are copied from the documents; the others follow their shape where a
document only describes the fields (v1 ``Details``, v3 errors).
"""

from __future__ import annotations

import json

# seed 000: v1 connect, XML success
V1_CONNECT_XML = """<?xml version="1.0" encoding="UTF-8"?>

<TwilioResponse>

 <Call>

  <Sid>xxxxxxxxxxxxxxxxxxxx</Sid>

  <ParentCallSid/>
  <DateCreated>2012-08-17 12:31:49</DateCreated>
  <DateUpdated>2012-08-17 12:31:49</DateUpdated>
  <AccountSid>xxxxxxxxx</AccountSid>
  <To>09052161119</To>
  <From>09739761117</From>
  <PhoneNumberSid>xxxxxxx</PhoneNumberSid>
  <Status>in-progress</Status>
  <StartTime>2012-08-17 12:31:49</StartTime>
  <EndTime>2012-08-17 12:32:57</EndTime>
  <Duration></Duration>
  <Price></Price>
  <Direction>outbound-api</Direction>
  <AnsweredBy/>
  <ForwardedFrom/>

  <CallerName/>

  <RecordingUrl/>
  <Uri>/v1/Accounts/xxxxxxxx/Calls/xxxxxxxxxxxxxx</Uri>
 </Call>
</TwilioResponse>
"""

# seed 000: v1 error, XML
V1_ERROR_XML = """<TwilioResponse>
<RestException>
<Status>404</Status>
<Message>No matching results</Message>
</RestException>
</TwilioResponse>"""

# seed 003: v1 error, XML with a Message only
V1_ERROR_XML_MESSAGE_ONLY = """<?xml version="1.0" encoding="UTF-8"?>
<TwilioResponse><RestException>
<Message>Invalid Call Parameters: No 'From' specified</Message>
</RestException></TwilioResponse>"""

# seed 004: v1 connect, JSON success
V1_CONNECT_JSON = """{
"Call": {
"Sid": "c5797dcbaaeed7678c4062a4a3ed2f8a",
"ParentCallSid": null,
"DateCreated": "2017-03-03 10:48:33",
"DateUpdated": "2017-03-03 10:48:33",
"AccountSid": "Exotel",
"To": "0XXXXX38847",
"From": "0XXXXX30240",
"PhoneNumberSid": "0XXXXXX4890",
"Status": "in-progress",
"StartTime": "2017-03-03 10:48:33",
"EndTime": null,
"Duration": null,
"Price": null,
"Direction": "outbound-api",
"AnsweredBy": null,
"ForwardedFrom": null,
"CallerName": null,
"Uri": "/v1/Accounts/Exotel/Calls.json/c5797dcbaaeed7678c4062a4a3ed2f8a",
"RecordingUrl": null
}
}"""


def _rest_exception(status: int, message: str) -> str:
    return json.dumps({"RestException": {"Status": status, "Message": message}})


# seed 004: v1 errors, JSON
V1_ERROR_JSON_400 = _rest_exception(400, "The 'From' parameter is required.")
V1_ERROR_JSON_401 = _rest_exception(401, "Authentication failed. Verify your API key and token.")
V1_ERROR_JSON_429 = _rest_exception(429, "Rate limit exceeded. Max 200 requests per minute.")

# v1 call details with ?details=true (shape described by the brief / Exotel's docs)
V1_DETAILS_JSON = """{"Call": {
"Sid": "c5797dcbaaeed7678c4062a4a3ed2f8a", "ParentCallSid": null,
"DateCreated": "2017-03-03 10:48:33", "DateUpdated": "2017-03-03 10:50:10",
"AccountSid": "Exotel", "To": "09123456789", "From": "09876543210",
"PhoneNumberSid": "08047471234", "Status": "completed",
"StartTime": "2017-03-03 10:48:33", "EndTime": "2017-03-03 10:49:41",
"Duration": 68, "Price": 1.50, "Direction": "outbound-api", "AnsweredBy": null,
"ForwardedFrom": null, "CallerName": null,
"Uri": "/v1/Accounts/Exotel/Calls/c5797dcbaaeed7678c4062a4a3ed2f8a.json",
"RecordingUrl": "https://recordings.exotel.com/exotelrecordings/Exotel/c579.mp3",
"Details": {"ConversationDuration": 52, "Leg1Status": "completed",
 "Leg2Status": "completed", "Legs": [
  {"Id": 1, "OnCallDuration": 66, "Status": "completed"},
  {"Id": 2, "OnCallDuration": 52, "Status": "completed"}]}}}"""

V1_DETAILS_XML = """<?xml version="1.0" encoding="UTF-8"?>
<TwilioResponse>
 <Call>
  <Sid>b6cfaf5e5d8a0d1f4cb7c2d6bd1b5c16</Sid>
  <ParentCallSid/>
  <DateCreated>2017-03-03 10:48:33</DateCreated>
  <DateUpdated>2017-03-03 10:49:02</DateUpdated>
  <AccountSid>Exotel</AccountSid>
  <To>09123456789</To>
  <From>09876543210</From>
  <PhoneNumberSid>08047471234</PhoneNumberSid>
  <Status>no-answer</Status>
  <StartTime>2017-03-03 10:48:33</StartTime>
  <EndTime>2017-03-03 10:49:01</EndTime>
  <Duration>28</Duration>
  <Price>0.000</Price>
  <Direction>outbound-api</Direction>
  <AnsweredBy/>
  <ForwardedFrom/>
  <CallerName/>
  <RecordingUrl/>
  <Uri>/v1/Accounts/Exotel/Calls/b6cfaf5e5d8a0d1f4cb7c2d6bd1b5c16</Uri>
  <Details>
   <ConversationDuration>0</ConversationDuration>
   <Leg1Status>no-answer</Leg1Status>
   <Leg2Status/>
   <Legs>
    <Leg><Id>1</Id><OnCallDuration>0</OnCallDuration><Status>no-answer</Status></Leg>
   </Legs>
  </Details>
 </Call>
</TwilioResponse>"""

# seed 002: v3 request body
V3_REQUEST = {
    "from": {"contact_uri": "8516043026", "state_management": True},
    "to": {"contact_uri": "7987616844"},
    "recording": {"record": True, "channels": "single"},
    "virtual_number": "+912241499102",
    "max_time_limit": 4000,
    "attempt_time_out": 45,
    "custom_field": "bilbo_test_call",
    "status_callback": [
        {"event": "terminal", "url": "https://webhook.site/aecd85dc-f959-48b5-abaf-d45189037e09"}
    ],
}

# seed 002: v3 POST answer
V3_POST = """{ "request_id": "1e2acb77c0f84db4821e765510fdecff", "method": "POST",
"http_code": 200, "metadata": null, "response": { "code": 200, "error_data": null,
"status": "success", "call_details": { "sid": "3f3fedf8f0928550a60bfa6302dc16b2",
"direction": "outbound", "virtual_number": "02241499102", "state": "active",
"status": null, "legs": "/v3/accounts/Exotel/calls/3f3fedf8f0928550a60bfa6302dc16b2/legs",
"created_time": "2022-11-02 23:49:51+05:30", "updated_time": "2022-11-02 23:49:52+05:30",
"start_time": "2022-11-02 23:49:52+05:30", "end_time": null, "total_duration": null,
"total_talk_time": null, "custom_field": "bilbo_test_call", "app_id": null,
"app_name": null, "digits": null, "recordings": null } } }"""

# seed 002: v3 call details, active (end_time is the 1970 placeholder)
V3_DETAILS_ACTIVE = """{ "request_id": "62bd4015e8c04ecea3a5fbd7272f95ae", "method": "GET",
"http_code": 200, "metadata": null, "response": { "code": 200, "error_data": null,
"status": "success", "call_details": { "sid": "cabfb1dfa8c5e1c7f2c458423b7716b3",
"direction": "outbound", "virtual_number": "+911414941199", "state": "active",
"status": null, "legs": "/v3/accounts/Exotel/calls/cabfb1dfa8c5e1c7f2c458423b7716b3/legs",
"created_time": "2022-11-03 22:54:40+05:30", "updated_time": "2022-11-03 22:54:58+05:30",
"start_time": "2022-11-03 22:54:57+05:30", "end_time": "1970-01-01 05:30:00+05:30",
"total_duration": null, "total_talk_time": null, "custom_field": null, "app_id": null,
"app_name": null, "digits": null, "recordings": null } } }"""

# seed 002: v3 call details, terminal
V3_DETAILS_TERMINAL = """{ "request_id": "9107ba6bdfc5493e806b7ea82706f2e0", "method": "GET",
"http_code": 200, "metadata": null, "response": { "code": 200, "error_data": null,
"status": "success", "call_details": { "sid": "cabfb1dfa8c5e1c7f2c458423b7716b3",
"direction": "outbound", "virtual_number": "+911414941199", "state": "terminal",
"status": "completed", "legs": "/v3/accounts/Exotel/calls/cabfb1dfa8c5e1c7f2c458423b7716b3/legs",
"created_time": "2022-11-03 22:54:40+05:30", "updated_time": "2022-11-03 22:56:05+05:30",
"start_time": "2022-11-03 22:54:57+05:30", "end_time": "2022-11-03 22:56:04+05:30",
"total_duration": null, "total_talk_time": 59, "custom_field": null, "app_id": null,
"app_name": null, "digits": null, "recordings": [ { "url":
"https://s3-ap-south-1.amazonaws.com/exotel-mum1-recordings/Exotel/cabfb1dfa8c5e1c7f2c458423b7716b3.mp3"
} ] } } }"""

# seed 002: v3 legs
V3_LEGS = """{ "request_id": "faf6d9fd87eb4dd6aef3967c40e369ed", "method": "GET",
"http_code": 200, "metadata": null, "response": { "code": 200, "error_data": null,
"status": "success", "leg_details": { "call_sid": "f1ca1057692d586b23b4e7ffcc3216mk",
"account_sid": "exotel", "from": [ { "sid": "213f2560d153d744cd61eb81a98616ak",
"name": "Aditya Sharma", "contact_uri": "0987xxxxxxx",
"date_created": "2020-09-15 11:01:20+05:30", "date_updated": "2020-09-15 11:02:20+05:30",
"status": "completed" }, { "sid": "813f2660d153d744cd61eb81a98616ak", "name": null,
"contact_uri": "09976xxxxxx", "date_created": "2020-09-15 11:03:20+05:30",
"date_updated": "2020-09-15 11:04:20+05:30", "status": "completed" } ], "to": [ {
"sid": "922g2560d153d744cd61eb81a92616am", "name": "Vikas Sharma",
"contact_uri": "sip:vikassffbbfc17", "date_created": "2020-09-15 11:01:20+05:30",
"date_updated": "2020-09-15 11:02:20+05:30", "status": "no-answer", "group_id": 123456,
"group_name": "test_group" }, { "sid": "544r1560d153d754cd61tb83a77616ak",
"name": "Sanjay Mishra", "contact_uri": "08887xxxxxx",
"date_created": "2020-09-15 11:03:20+05:30", "date_updated": "2020-09-15 11:04:20+05:30",
"status": "completed", "group_id": null, "group_name": null } ] } } }"""


def v3_error(http_code: int, code: int, description: str, method: str = "POST") -> str:
    """A v3 error envelope (seed 002's envelope with its error code table)."""
    return json.dumps({
        "request_id": "0c9e8b1f3f8a4e0f9a1b2c3d4e5f6a7b", "method": method,
        "http_code": http_code, "metadata": None,
        "response": {"code": http_code, "status": "failure", "call_details": None,
                     "error_data": {"code": code, "message": description,
                                    "description": description}},
    })
