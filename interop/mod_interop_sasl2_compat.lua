-- Prosody plugin for interop/run: lets Debian bookworm's prosody-modules
-- (0.0~hg20230223) mod_sasl2 and mod_sasl2_fast run on Debian bookworm's Prosody 0.12.3.
-- They were written against Prosody trunk (0.13), and two things they take from it are not
-- in 0.12; without them every c2s stream after STARTTLS ends in a traceback before its
-- features, for legacy clients too:
--
-- 1. `conn:ssl_info()` (mod_sasl2, "attempt to call a nil value (method 'ssl_info')"):
--    0.12's network backends do not have it. Each encrypted c2s connection gets it here,
--    answering what trunk's does: LuaSec's `info()` of the TLS socket (mod_sasl2 reads its
--    `protocol`). 0.12 has no `ssl_exportkeyingmaterial` either, so mod_sasl2 offers no
--    `tls-exporter` channel binding, and mod_sasl2_fast only HT-SHA-256-NONE.
-- 2. `event.stream`, the client's stream header, in the stream-features event
--    (mod_sasl2_fast, "attempt to index a nil value (field 'stream')"): 0.12 does not pass
--    it. mod_sasl2_fast reads its `from` (the account) and advertises FAST only with one.
--    The header's `from` is what mod_c2s hands to `session:open_stream(host, from)` as the
--    reply's `to`, so that method is wrapped here (from the session's first features on,
--    so the stream after STARTTLS has it) and the value given to the event.
-- 3. `util.datetime.datetime()` of a fractional time (mod_sasl2_fast, for the token's
--    `expiry`: "bad argument #2 to 'os_date' (number has no integer representation)"):
--    0.12's passes the number to Lua 5.4's `os.date` as it is; trunk's rounds it down.
--    Here too (a datetime has whole seconds anyway).
-- 4. `stanza:get_child_attr(name, xmlns, attr)` (mod_sasl2_fast, for the
--    `<user-agent id>` of a FAST login: "attempt to call a nil value (method
--    'get_child_attr')"): a trunk addition to util.stanza, given here as trunk has it.
--
-- The hook runs before mod_sasl2's own stream-features handler (priority 1). Nothing else
-- changes.
local datetime = require "util.datetime";
local format_datetime = datetime.datetime;
datetime.datetime = function(t)
	return format_datetime(t and math.floor(t));
end;

local stanza_mt = require "util.stanza".stanza_mt;
if stanza_mt.get_child_attr == nil then
	function stanza_mt:get_child_attr(name, xmlns, attr)
		local child = self:get_child(name, xmlns);
		if child then
			return child.attr[attr];
		end
	end
end

module:hook("stream-features", function(event)
	local session = event.origin;
	local conn = session.conn;
	if conn and session.encrypted and conn.ssl_info == nil then
		conn.ssl_info = function(self)
			local sock = self:socket();
			return sock and sock.info and sock:info() or nil;
		end;
	end
	if session.open_stream and not session.interop_open_stream_wrapped then
		local open_stream = session.open_stream;
		session.open_stream = function(s, from, to, ...)
			s.interop_stream_from = to;
			return open_stream(s, from, to, ...);
		end;
		session.interop_open_stream_wrapped = true;
	end
	if event.stream == nil then
		event.stream = { from = session.interop_stream_from };
	end
end, 10);
