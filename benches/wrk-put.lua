-- wrk body script for presigned PUTs: WRK_BODY_BYTES bytes per request.
local n = tonumber(os.getenv("WRK_BODY_BYTES") or "4096")
wrk.method = "PUT"
wrk.body = string.rep("x", n)
wrk.headers["Content-Type"] = "application/octet-stream"
