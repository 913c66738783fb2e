-- Prosody plugin for interop/run: s2s connections to the domains of `interop_s2s_routes`
-- go to a fixed address and port instead of what DNS says. The run has no DNS server (and
-- Prosody's resolver reads no /etc/hosts), and our example's domain listens on a port of
-- its own. Every other domain resolves as usual.
module:set_global();

local service = require "net.resolvers.service";
local basic = require "net.resolvers.basic";
local manual = require "net.resolvers.manual";

local routes = module:get_option("interop_s2s_routes", {});
local original = service.new;

service.new = function(hostname, srv_name, proto, extra)
	local route = routes[hostname];
	if not route then
		return original(hostname, srv_name, proto, extra);
	end
	if srv_name ~= "xmpp-server" then
		-- No direct TLS (xmpps-server) there: STARTTLS on the route only.
		return manual.new({}, proto, extra);
	end
	module:log("debug", "routing s2s for %s to %s:%d", hostname, route[1], route[2]);
	return basic.new(route[1], route[2], proto, extra);
end

function module.unload()
	service.new = original;
end
