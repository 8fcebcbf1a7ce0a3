-- forkv's script sandbox, run once on every fresh Lua state (chunk name "=forkv").
--
-- Stock Lua 5.1 has no read-only tables (Redis patches its Lua for them), so scripts see the
-- globals and the library tables through proxies: reads go to the real table, writes raise
-- "Attempt to modify a readonly table", and reading a global that does not exist raises
-- Redis's "Script attempted to access nonexistent global variable" error. The raw-access
-- builtins are wrapped so that they cannot go around a proxy.
--
-- While a FUNCTION library loads, `redis` is the loading API (register_function, log, ...) and
-- no other global exists, as in Redis; the functions it registers see the full API when they
-- run later.
--
-- Arguments: the `redis` table the host built, the loading-time one, the host's function that
-- turns a caught error into what pcall returns, and the host's math.random / math.randomseed.
-- Returns the environment code runs in, the function the host calls to run some, and the
-- switch for loading mode.

local redis_api, load_redis_api, caught_error, random, randomseed = ...

local G = _G
local error, type, tostring, select, unpack = error, type, tostring, select, unpack
local rawget, rawset, rawequal, next, ipairs = rawget, rawset, rawequal, next, ipairs
local setmetatable, getmetatable, getfenv, setfenv = setmetatable, getmetatable, getfenv, setfenv
local loadstring, load, pcall, xpcall = loadstring, load, pcall, xpcall

-- Redis's allow list of globals; anything else a library registered is dropped.
local allowed = {}
for name in ([[string cjson bit cmsgpack math table struct redis xpcall tostring getfenv
    setmetatable next assert tonumber rawequal collectgarbage getmetatable rawset pcall
    coroutine type _G select unpack gcinfo pairs rawget loadstring ipairs _VERSION setfenv
    load error newproxy]]):gmatch('%S+') do
    allowed[name] = true
end
for name in pairs(G) do
    if not allowed[name] then
        G[name] = nil
    end
end

local real_of = setmetatable({}, { __mode = 'k' })

-- As __newindex: raised at the level of the code that tried the write.
local function readonly()
    error('Attempt to modify a readonly table', 2)
end

-- A read-only view of `real`; `index` replaces plain reads through to it.
local function protect(real, index)
    local proxy = {}
    index = index or real
    local meta_view = setmetatable({}, {
        __index = { __index = index, __newindex = readonly },
        __newindex = readonly,
        __metatable = false,
    })
    real_of[meta_view] = {}
    setmetatable(proxy, { __index = index, __newindex = readonly, __metatable = meta_view })
    real_of[proxy] = real
    return proxy
end

local function missing_global(k)
    error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 3)
end

G.math.random = random
G.math.randomseed = randomseed
G.redis = redis_api

-- pcall as Redis 7.0 changed it: an error table from redis.call is caught as its message.
local function pack(...)
    return select('#', ...), { ... }
end
G.pcall = function(f, ...)
    local n, r = pack(pcall(f, ...))
    if not r[1] then
        return false, caught_error(r[2])
    end
    return unpack(r, 1, n)
end

local env

local function unwrap(t)
    return real_of[t] or t
end

G.rawset = function(t, k, v)
    if real_of[t] then
        error('Attempt to modify a readonly table', 0)
    end
    return rawset(t, k, v)
end
G.rawget = function(t, k)
    return rawget(unwrap(t), k)
end
G.next = function(t, k)
    return next(unwrap(t), k)
end
G.pairs = function(t)
    return next, unwrap(t), nil
end
local function ipairs_step(t, i)
    i = i + 1
    local v = t[i]
    if v ~= nil then
        return i, v
    end
end
G.ipairs = function(t)
    return ipairs_step, unwrap(t), 0
end
G.setmetatable = function(t, mt)
    if real_of[t] then
        error('Attempt to modify a readonly table', 0)
    end
    return setmetatable(t, mt)
end
G.getfenv = function(f)
    local e = getfenv(type(f) == 'number' and f > 0 and f + 1 or f or 2)
    if rawequal(e, G) then
        return env
    end
    return e
end
-- Code compiled at run time runs in the same protected environment; binary chunks are
-- refused (Redis's Lua does not load them).
local function sandboxed(f, err)
    if f then
        setfenv(f, env)
    end
    return f, err
end
G.loadstring = function(s, name)
    if type(s) == 'string' and s:byte(1) == 27 then
        return nil, 'binary chunks are not allowed'
    end
    return sandboxed(loadstring(s, name))
end
G.load = function(f, name)
    local first = true
    local function reader()
        local piece = f()
        if first and type(piece) == 'string' and piece:byte(1) == 27 then
            error('binary chunks are not allowed', 0)
        end
        first = false
        return piece
    end
    return sandboxed(load(reader, name))
end

-- Every library table reachable from the globals is read-only.
for name, v in pairs(G) do
    if type(v) == 'table' and name ~= '_G' then
        G[name] = protect(v)
    end
end

local loading = false
-- Like Redis's, the loading-time `redis` table raises on a field it does not have.
local load_globals = {
    redis = protect(load_redis_api, function(_, k)
        local v = rawget(load_redis_api, k)
        if v == nil then
            missing_global(k)
        end
        return v
    end),
}

env = protect(G, function(_, k)
    local v = rawget(loading and load_globals or G, k)
    if v == nil then
        missing_global(k)
    end
    return v
end)
rawset(G, '_G', env)

local function set_loading(on)
    loading = on
end

-- Run one script function under the host's message handler.
local function run(f, handler, ...)
    local n = select('#', ...)
    if n == 0 then
        return xpcall(f, handler)
    end
    local args = { ... }
    return xpcall(function()
        return f(unpack(args, 1, n))
    end, handler)
end

return env, run, set_loading
