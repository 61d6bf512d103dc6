-- load_mix.lua — wrk script for tests/cli/load.bats and tools/bench-soak.sh.
--
--   wrk -s load_mix.lua URL -- MODE GOOD.json [BIG.json]
--
-- MODE "valid": every request is GOOD.json POSTed to the infer URL.
-- MODE "abuse": a rotation of malformed JSON, a wrong shape, a wrong
-- datatype, an oversized body (BIG.json, past --max-body), an unknown model
-- and a GET on the infer URL.  done() prints one line per status seen,
-- "status <code> <count>", summed over threads, and "requests <n>".
counts = {}  -- global: done() reads it from each thread
local threads = {}
local mode, good, big
local bodies = {}
local i = 0

local function slurp(path)
	local f = assert(io.open(path, "rb"))
	local s = f:read("*a")
	f:close()
	return s
end

function setup(thread)
	table.insert(threads, thread)
end

function init(args)
	mode = args[1] or "valid"
	good = slurp(args[2])
	if mode == "abuse" then
		big = slurp(args[3])
		local hdr = { ["Content-Type"] = "application/json" }
		local infer = "/v2/models/mnist/infer"
		bodies = {
			wrk.format("POST", infer, hdr, '{"inputs": ['),
			wrk.format("POST", infer, hdr, (good:gsub("%[1, 1, 28, 28%]", "[1, 1, 28, 27]"))),
			wrk.format("POST", infer, hdr, (good:gsub('"FP32"', '"FP64"'))),
			wrk.format("POST", infer, hdr, big),
			wrk.format("POST", "/v2/models/nosuch/infer", hdr, good),
			wrk.format("GET", infer),
			wrk.format("POST", infer, hdr, '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]'),
		}
	else
		bodies = { wrk.format("POST", "/v2/models/mnist/infer",
			{ ["Content-Type"] = "application/json" }, good) }
	end
end

function request()
	i = i + 1
	return bodies[(i % #bodies) + 1]
end

function response(status, headers, body)
	counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
	local total = {}
	for _, t in ipairs(threads) do
		local c = t:get("counts")
		for k, v in pairs(c) do
			total[k] = (total[k] or 0) + v
		end
	end
	for k, v in pairs(total) do
		io.write(string.format("status %d %d\n", k, v))
	end
	io.write(string.format("requests %d\n", summary.requests))
	io.write(string.format("errors connect %d read %d write %d status %d timeout %d\n",
		summary.errors.connect, summary.errors.read, summary.errors.write,
		summary.errors.status, summary.errors.timeout))
end
