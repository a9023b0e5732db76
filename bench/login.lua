-- wrk script of bench/run: POST /api/auth/login with a JSON body, cycling over the seeded users
-- (bench-0@example.com ... bench-(N-1)@example.com, N from $BENCH_USERS, password $BENCH_PASSWORD). Every login
-- succeeds (200, two Set-Cookie headers) and starts a session: one Argon2id verification, one user read, two inserts.
local users = tonumber(os.getenv("BENCH_USERS") or "16")
local password = os.getenv("BENCH_PASSWORD") or "bench-password-1"
local headers = { ["Content-Type"] = "application/json" }
local counter = 0
local next_thread = 0

function setup(thread)
    thread:set("offset", next_thread * 7)
    next_thread = next_thread + 1
end

function init(args)
    counter = offset or 0
end

function request()
    counter = counter + 1
    local body = string.format('{"email":"bench-%d@example.com","password":"%s"}', counter % users, password)
    return wrk.format("POST", "/api/auth/login", headers, body)
end
