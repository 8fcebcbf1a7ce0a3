//! Lua scripting against the real binary: a corpus of scripts replayed against a real
//! redis-server (replies compared byte for byte, in RESP2 and RESP3), and the slow-script mode
//! with several clients (BUSY replies, SCRIPT KILL, UNKILLABLE, SHUTDOWN NOSAVE).

mod common;
use common::diff::*;
use common::*;

/// EVAL/EVALSHA/SCRIPT lines: each is the command's arguments (scripts contain spaces, so the
/// arguments are given one by one).
fn script_corpus() -> Vec<Vec<Vec<u8>>> {
    let eval = |body: &str, rest: &[&str]| -> Vec<Vec<u8>> {
        let mut v = vec![b"EVAL".to_vec(), body.as_bytes().to_vec()];
        v.extend(rest.iter().map(|a| a.as_bytes().to_vec()));
        v
    };
    let mut cmds = vec![
        words("FLUSHALL"),
        words("SET k v"),
        words("SET n 10"),
        words("RPUSH l a b c"),
        words("HSET h f 1"),
        eval("return 1", &["0"]),
        eval("return 'x'", &["0"]),
        eval("return 3.99", &["0"]),
        eval("return -3.99", &["0"]),
        eval("return 0/0", &["0"]),
        eval("return 1e300", &["0"]),
        eval("return true", &["0"]),
        eval("return false", &["0"]),
        eval("return nil", &["0"]),
        eval("return {}", &["0"]),
        eval("return {1,2,3,'ciao',{1,2}}", &["0"]),
        eval("return {1,2,nil,4}", &["0"]),
        eval("return {1,false,3}", &["0"]),
        eval("return {err='My Error'}", &["0"]),
        eval("return {err='-CODE msg'}", &["0"]),
        eval("return {ok='fine\r\nline'}", &["0"]),
        eval("return redis.error_reply('My Error')", &["0"]),
        eval("return redis.error_reply('-CUSTOM x')", &["0"]),
        eval("return redis.status_reply('FINE')", &["0"]),
        eval("return redis.error_reply(1)", &["0"]),
        eval("return {double=3.5}", &["0"]),
        eval(
            "return {KEYS[1],KEYS[2],ARGV[1],ARGV[2]}",
            &["2", "a", "b", "c", "d"],
        ),
        eval("return #ARGV", &["0", "x", "y"]),
        eval("return redis.call('get',KEYS[1])", &["1", "k"]),
        eval("return redis.call('get','nosuch')", &["0"]),
        eval("return redis.call('incr','n')", &["0"]),
        eval("return redis.call('incr','k')", &["0"]),
        eval("return redis.pcall('incr','k')", &["0"]),
        eval("return redis.call('lrange','l',0,-1)", &["0"]),
        eval("return redis.call('hgetall','h')", &["0"]),
        eval("return redis.call('ping')", &["0"]),
        eval("return redis.call('nosuchcommand')", &["0"]),
        eval("return redis.call('get')", &["0"]),
        eval("return redis.call()", &["0"]),
        eval("return redis.call('set','x',{})", &["0"]),
        eval("return redis.call('eval','return 1','0')", &["0"]),
        eval("return redis.call('set','f',3.5)", &["0"]),
        eval("return redis.call('get','f')", &["0"]),
        eval("return redis.call('set','big',12345678901234567)", &["0"]),
        eval("return redis.call('get','big')", &["0"]),
        eval("local t = redis.call('type','k') return t.ok", &["0"]),
        eval("return redis.sha1hex('Pizza & Mandolino')", &["0"]),
        eval("return redis.sha1hex()", &["0"]),
        eval("return nosuchglobal", &["0"]),
        eval("newglobal = 1", &["0"]),
        eval("redis.call = 1", &["0"]),
        eval("string.x = 1", &["0"]),
        eval("setmetatable(_G, {})", &["0"]),
        eval("print('x')", &["0"]),
        eval("loadfile('x')", &["0"]),
        eval(
            "return loadstring(string.dump(function() return 1 end))()",
            &["0"],
        ),
        eval("return pcall(function() error('boom') end)", &["0"]),
        eval(
            "local ok, e = pcall(redis.call, 'incr', 'k') return {tostring(ok), e}",
            &["0"],
        ),
        eval("error('plain')", &["0"]),
        eval("error({err='tabled'})", &["0"]),
        eval("return redis.setresp(4)", &["0"]),
        eval("return redis.set_repl(99)", &["0"]),
        eval("return redis.log(redis.LOG_WARNING)", &["0"]),
        eval("return redis.REDIS_VERSION", &["0"]),
        eval("return redis.REDIS_VERSION_NUM", &["0"]),
        eval("return {math.random(), math.random(100)}", &["0"]),
        eval("return tostring(1/3)", &["0"]),
        eval("return string.format('%d-%s', 7, 'x')", &["0"]),
        eval("return table.concat({1,2,3}, ',')", &["0"]),
        eval(
            "return {bit.tobit(2^40 + 7), bit.tohex(-1), bit.tohex(255, -4)}",
            &["0"],
        ),
        eval(
            "return {bit.band(0x12345678, 0xff), bit.bor(1, 2, 4), bit.bxor(5, 3)}",
            &["0"],
        ),
        eval(
            "return {bit.lshift(1, 40), bit.rshift(-256, 8), bit.arshift(-256, 8)}",
            &["0"],
        ),
        eval(
            "return {bit.rol(0x12345678, 12), bit.ror(0x12345678, 12), bit.bswap(0x12345678)}",
            &["0"],
        ),
        eval("return bit.band()", &["0"]),
        eval("bit.band = nil", &["0"]),
        words("SADD myset c a b"),
        eval("return redis.call('sort', 'myset', 'by', 'nosort')", &["0"]),
        words("COMMAND GETKEYS EVAL return\\s1 0"),
        words("COMMAND GETKEYS EVAL return\\s1 2 a b c"),
        words("COMMAND GETKEYS FCALL f 1 k"),
        words("COMMAND GETKEYS SORT abc STORE x STORE y STORE z"),
        words("COMMAND GETKEYS PING"),
        eval(
            r#"return cjson.encode({1, 2, 'x', {a = {true, false}}})"#,
            &["0"],
        ),
        eval(r#"return cjson.encode({})"#, &["0"]),
        eval(r#"return cjson.encode({[1] = 1, [3] = 3})"#, &["0"]),
        eval(r#"return cjson.encode({[1] = 1, [30] = 3})"#, &["0"]),
        eval(
            r#"return cjson.encode({0.1, 1/3, -0, 1e300, 123456789012345})"#,
            &["0"],
        ),
        eval(r#"return cjson.encode('a/b"\n\1\127é')"#, &["0"]),
        eval(r#"return cjson.encode(1/0)"#, &["0"]),
        eval(r#"return cjson.encode(redis.call)"#, &["0"]),
        eval(r#"local t = {} t[1] = t return cjson.encode(t)"#, &["0"]),
        eval(
            r#"return cjson.encode(cjson.decode('{"k":[1,2,{"x":null}]}'))"#,
            &["0"],
        ),
        eval(
            r#"return table.concat(cjson.decode("[0.0, -5e3, -1, 0.3e-3, 1023.2, 0e10]"), " ")"#,
            &["0"],
        ),
        eval(
            r#"return cjson.decode('"\\u00e9\\ud83d\\ude00\\n"')"#,
            &["0"],
        ),
        eval(r#"return cjson.decode('[1,')"#, &["0"]),
        eval(r#"return cjson.decode('{1:2}')"#, &["0"]),
        eval(r#"return cjson.decode('[1] x')"#, &["0"]),
        eval(r#"return cjson.decode('"abc')"#, &["0"]),
        eval(r#"return cjson.decode('[1 2]')"#, &["0"]),
        eval(r#"return cjson.decode('{"a" 1}')"#, &["0"]),
        eval(r#"return cjson.decode('')"#, &["0"]),
        eval(r#"return cjson.decode(string.rep('[', 1001))"#, &["0"]),
        eval(r#"return cjson.decode()"#, &["0"]),
        eval(
            r#"return {cjson.decode('true'), cjson.decode('12'), cjson.decode('"s"')}"#,
            &["0"],
        ),
        eval(r#"cjson.encode = nil"#, &["0"]),
        eval(
            r#"local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end
               return {hex(cmsgpack.pack(0.1, 1.5, -1099511627776, 5, -5, 200, -200, 70000, -70000)),
                       hex(cmsgpack.pack({1, 2, {a = true}}, nil, false, string.rep('x', 40))),
                       hex(cmsgpack.pack(string.rep('y', 300)):sub(1, 8))}"#,
            &["0"],
        ),
        eval(
            r#"local a = {x = nil, y = 5} local b = {x = a} a.x = b
               local s = cmsgpack.pack(a) return {#s, cmsgpack.unpack(s).x.x.y}"#,
            &["0"],
        ),
        eval(
            r#"local s = cmsgpack.pack('a', 'b', 'c')
               local o1, v1 = cmsgpack.unpack_one(s, 0)
               local o2, v2, v3 = cmsgpack.unpack_limit(s, 2, o1)
               return {o1, v1, o2, v2, v3, cmsgpack.unpack(s)}"#,
            &["0"],
        ),
        eval(r#"return cmsgpack.unpack('\205')"#, &["0"]),
        eval(r#"return cmsgpack.unpack('\193')"#, &["0"]),
        eval(r#"return cmsgpack.pack()"#, &["0"]),
        eval(r#"cmsgpack.pack = nil"#, &["0"]),
        // Big tables (more values than Lua's stack has slots) both ways.
        eval(
            r#"local t = {} for i = 1, 50000 do t[i] = 'v' .. i end return t"#,
            &["0"],
        ),
        eval(
            r#"local t = {} for i = 1, 50000 do t['k' .. i] = i end
               local p = cmsgpack.pack(t) local u = cmsgpack.unpack(p)
               return {#p, u.k1, u.k50000, #cjson.encode(t)}"#,
            &["0"],
        ),
        eval(
            r#"local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end
               return {hex(struct.pack('>I2', 258)), hex(struct.pack('<i', -2)), hex(struct.pack('!4 b i', 1, 2)),
                       hex(struct.pack('s c3 x', 'ab', 'xyz')), hex(struct.pack('>d<f', 1.5, -2.25)),
                       hex(struct.pack('l L T h H B b', -1, 7, 8, -300, 300, 255, -128)),
                       struct.size('!8 b d'), struct.size('i3 h')}"#,
            &["0"],
        ),
        eval(
            r#"local p = struct.pack('>hBs c2', -3, 200, 'xy', 'zz')
               return {struct.unpack('>hBs c2', p)}"#,
            &["0"],
        ),
        eval(
            r#"return {struct.unpack('b c0', struct.pack('b c2', 2, 'hi'))}"#,
            &["0"],
        ),
        eval(
            r#"return {struct.unpack('i4', struct.pack('i4 i4', 1, 2), 5)}"#,
            &["0"],
        ),
        eval(r#"return struct.unpack('i4', 'ab')"#, &["0"]),
        eval(r#"return struct.unpack('i4', 'abcd', 0)"#, &["0"]),
        eval(r#"return struct.pack('i33', 1)"#, &["0"]),
        eval(r#"return struct.pack('q', 1)"#, &["0"]),
        eval(r#"return struct.pack('!3 i', 1)"#, &["0"]),
        eval(r#"return struct.size('s')"#, &["0"]),
        eval(r#"return struct.size('c0')"#, &["0"]),
        eval(r#"return struct.unpack('s', 'abc')"#, &["0"]),
        eval(r#"return struct.pack('c5', 'ab')"#, &["0"]),
        eval(r#"return struct.pack('i')"#, &["0"]),
        eval(r#"return struct.unpack('i')"#, &["0"]),
        eval(r#"return struct.size()"#, &["0"]),
        eval(r#"struct.pack = nil"#, &["0"]),
        eval("syntax error here", &["0"]),
        eval("return 1", &["-1"]),
        eval("return 1", &["2", "a"]),
        eval("return 1", &["x"]),
        eval(
            "#!lua flags=no-writes\nreturn redis.call('set','k','v')",
            &["0"],
        ),
        eval(
            "#!lua flags=no-writes\nreturn redis.call('get','k')",
            &["0"],
        ),
        eval("#!lua flags=bogus\nreturn 1", &["0"]),
        eval("#!lua name=x\nreturn 1", &["0"]),
        eval("#!perl\nreturn 1", &["0"]),
        eval("#!lua", &["0"]),
        eval("\n\nreturn redis.call('incr','k')", &["0"]),
        words("SCRIPT LOAD return\\s'loaded'"),
        words("EVALSHA 2f31ba2bb6d6a0f42cc159d2e2dad55440778de3 0"),
        words("EVALSHA 2F31BA2BB6D6A0F42CC159D2E2DAD55440778DE3 0"),
        words("EVALSHA ffffffffffffffffffffffffffffffffffffffff 0"),
        words("EVALSHA short 0"),
        words(
            "SCRIPT EXISTS 2f31ba2bb6d6a0f42cc159d2e2dad55440778de3 ffffffffffffffffffffffffffffffffffffffff",
        ),
        words("SCRIPT FLUSH BAD"),
        words("SCRIPT FLUSH ASYNC"),
        words("SCRIPT EXISTS 2f31ba2bb6d6a0f42cc159d2e2dad55440778de3"),
        words("SCRIPT KILL"),
        words("SCRIPT LOAD"),
        words("SCRIPT NOSUCH"),
        words("EVAL_RO return\\sredis.call('get','k') 0"),
        words("EVAL_RO return\\sredis.call('set','k','w') 0"),
        words("EVAL_RO #!lua\nreturn\\s1 0"),
        words("MULTI"),
        eval("return redis.call('incr','n')", &["0"]),
        words("EXEC"),
        words("GET n"),
    ];
    // Booleans and maps read differently once the script asks for RESP3.
    cmds.push(eval(
        "redis.setresp(3) return {redis.call('hgetall','h'), redis.call('exists','k') == 1}",
        &["0"],
    ));
    cmds.push(eval(
        "redis.setresp(3) return {map={a=1}, set={b=true}, double=1.5}",
        &["0"],
    ));
    cmds
}

#[test]
fn script_corpus_matches_redis() {
    let Some((_r, _f, mut p)) = start_pair() else {
        return;
    };
    p.run(&script_corpus());
}

#[test]
fn script_corpus_matches_redis_in_resp3() {
    let Some((_r, _f, mut p)) = start_pair() else {
        return;
    };
    p.run(&[words("HELLO 3")]);
    p.run(&script_corpus());
}

/// Read replies from `c` until one is an error starting with `prefix` (a state another client
/// is about to reach), sending `args` each time.
/// (Gives up after a minute so a broken server fails the test instead of hanging it.)
fn until_error(c: &mut Conn, args: &[&str], prefix: &str) -> String {
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let r = c.cmd(args);
        if let Reply::Error(e) = &r
            && e.starts_with(prefix)
        {
            return e.clone();
        }
        assert!(
            std::time::Instant::now() < give_up,
            "never got {prefix}: last reply {r:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn slow_script_answers_busy_and_can_be_killed() {
    let srv = start_forkv(&["--busy-reply-threshold", "20"]);
    let mut a = srv.conn();
    let mut b = srv.conn();
    a.cmd(&["SET", "k", "before"]);
    a.send(&["EVAL", "while true do end", "0"]);
    let busy = until_error(&mut b, &["GET", "k"], "BUSY");
    assert_eq!(
        busy,
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
    );
    // A transaction started meanwhile is refused as a whole once a command in it got BUSY.
    assert_eq!(b.cmd(&["MULTI"]), status("OK"));
    assert!(b.cmd(&["INCR", "k"]).is_error());
    // A third client connecting now is served too (accepts go on).
    let mut c = srv.conn();
    assert!(c.cmd(&["PING"]).is_error());
    assert_eq!(c.cmd(&["SCRIPT", "KILL"]), status("OK"));
    match a.read() {
        Reply::Error(e) => assert!(
            e.starts_with("ERR Script killed by user with SCRIPT KILL..."),
            "{e}"
        ),
        other => panic!("script reply {other:?}"),
    }
    match b.cmd(&["EXEC"]) {
        Reply::Error(e) => assert!(e.starts_with("EXECABORT"), "{e}"),
        other => panic!("EXEC reply {other:?}"),
    }
    assert_eq!(b.cmd(&["GET", "k"]), bulk("before"));
    assert_eq!(a.cmd(&["PING"]), status("PONG"));
    assert_eq!(
        c.cmd(&["SCRIPT", "KILL"]),
        err("NOTBUSY No scripts in execution right now.")
    );
}

#[test]
fn a_kill_is_not_swallowed_by_pcall_in_a_script_or_a_function() {
    let srv = start_forkv(&["--busy-reply-threshold", "20"]);
    let mut a = srv.conn();
    let mut b = srv.conn();
    let body = "local f = function() while 1 do redis.call('ping') end end while 1 do pcall(f) end";
    let lib = format!("#!lua name=spin\nredis.register_function('spin', function() {body} end)");
    assert_eq!(a.cmd(&["FUNCTION", "LOAD", &lib]), bulk("spin"));
    for (run, kill) in [
        (vec!["EVAL", body, "0"], "SCRIPT"),
        (vec!["FCALL", "spin", "0"], "FUNCTION"),
    ] {
        a.send(&run);
        until_error(&mut b, &["PING"], "BUSY");
        // The other kind of kill is refused with the BUSY text naming the right one.
        let wrong = if kill == "SCRIPT" {
            "FUNCTION"
        } else {
            "SCRIPT"
        };
        match b.cmd(&[wrong, "KILL"]) {
            Reply::Error(e) => assert!(e.starts_with("BUSY"), "{e}"),
            other => panic!("{wrong} KILL reply {other:?}"),
        }
        assert_eq!(b.cmd(&[kill, "KILL"]), status("OK"));
        match a.read() {
            Reply::Error(e) => assert!(
                e.contains("Script killed by user with SCRIPT KILL..."),
                "{e}"
            ),
            other => panic!("script reply {other:?}"),
        }
        assert_eq!(b.cmd(&["PING"]), status("PONG"));
    }
}

#[test]
fn a_script_that_wrote_cannot_be_killed_but_shutdown_nosave_stops_it() {
    let mut srv = start_forkv(&["--busy-reply-threshold", "20"]);
    let mut a = srv.conn();
    let mut b = srv.conn();
    a.send(&["EVAL", "redis.call('set','w','1') while true do end", "0"]);
    until_error(&mut b, &["PING"], "BUSY");
    match b.cmd(&["SCRIPT", "KILL"]) {
        Reply::Error(e) => assert!(e.starts_with("UNKILLABLE"), "{e}"),
        other => panic!("SCRIPT KILL reply {other:?}"),
    }
    match b.cmd(&["SHUTDOWN"]) {
        Reply::Error(e) => assert!(e.starts_with("BUSY"), "{e}"),
        other => panic!("SHUTDOWN reply {other:?}"),
    }
    b.send(&["SHUTDOWN", "NOSAVE"]);
    let status = srv.wait_exit().expect("server exits");
    assert!(status.success(), "{status:?}");
}

/// FUNCTION and FCALL lines, compared with redis-server like the script corpus.
fn function_corpus() -> Vec<Vec<Vec<u8>>> {
    let cmd =
        |parts: &[&str]| -> Vec<Vec<u8>> { parts.iter().map(|p| p.as_bytes().to_vec()).collect() };
    let load = |code: &str| cmd(&["FUNCTION", "LOAD", code]);
    vec![
        words("FUNCTION FLUSH"),
        load(
            "#!lua name=lib1\nredis.register_function('f1', function(keys, args) return {keys[1], args[1]} end)",
        ),
        load("#!lua name=lib1\nredis.register_function('f1', function() return 1 end)"),
        cmd(&[
            "FUNCTION",
            "LOAD",
            "REPLACE",
            "#!lua name=lib1\nredis.register_function('f1', function(keys, args) return {keys[1], args[1], #keys} end)",
        ]),
        cmd(&["FUNCTION", "LOAD", "BOGUS", "#!lua name=x\n"]),
        cmd(&["FUNCTION", "LOAD", "REPLACE"]),
        words("FCALL f1 1 k a"),
        words("FCALL f1 0"),
        words("FCALL f1 2 k"),
        words("FCALL f1 -1"),
        words("FCALL f1 x"),
        words("FCALL nosuch 0"),
        words("FCALL_RO f1 0"),
        load(
            "#!lua name=lib2\nredis.register_function{function_name='ro', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads'}",
        ),
        load(
            "#!lua name=lib3\nredis.register_function{function_name='w', callback=function(keys) return redis.call('set', keys[1], 'x') end}",
        ),
        words("FCALL_RO ro 1 k"),
        words("FCALL_RO w 1 k"),
        words("FCALL w 1 k"),
        words("FCALL_RO ro 1 k"),
        load(
            "#!lua name=lib4\nredis.register_function{function_name='bad', callback=function(keys) return redis.call('set', keys[1], 'x') end, flags={'no-writes'}}",
        ),
        words("FCALL bad 1 k"),
        load("#!lua name=dup\nredis.register_function('f1', function() return 1 end)"),
        load("#!lua name=e1\nreturn 1"),
        load("#!lua name=e2\nstring.len('x')"),
        load("#!lua name=e3\nredis.call('ping')"),
        load(
            "#!lua name=e4\nredis.register_function('a', function() end) redis.register_function('a', function() end)",
        ),
        load("#!lua name=e5\nredis.register_function('a-b', function() end)"),
        load("#!lua name=e6\nredis.register_function('a')"),
        load(
            "#!lua name=e7\nredis.register_function{function_name='a', callback=function() end, flags={'bogus'}}",
        ),
        load(
            "#!lua name=e8\nredis.register_function{function_name='a', callback=function() end, other=1}",
        ),
        load("#!lua name=e9\nredis.register_function{callback=function() end}"),
        load("#!lua name=e10\nerror('boom')"),
        load("#!lua name=e11\nsyntax error"),
        load("#!lua name=e12 name=x\n"),
        load("#!lua foo=bar\n"),
        load("#!lua\n"),
        load("#!python name=p\n"),
        load("#!lua name=b-ad\n"),
        load("no shebang"),
        load(
            "#!lua name=e13\nlocal function f() return 1 end redis.register_function('ff', f) return redis.setresp(3)",
        ),
        load("#!lua name=e14\nx = 1"),
        words("FUNCTION LIST"),
        words("FUNCTION LIST WITHCODE LIBRARYNAME lib2"),
        words("FUNCTION LIST LIBRARYNAME"),
        words("FUNCTION LIST BOGUS"),
        words("FUNCTION STATS"),
        words("FUNCTION DELETE lib3"),
        words("FUNCTION DELETE lib3"),
        words("FCALL w 1 k"),
        words("FUNCTION KILL"),
        words("FUNCTION FLUSH BAD"),
        words("FUNCTION RESTORE bad"),
        words("FUNCTION RESTORE x BADPOLICY"),
        words("FUNCTION NOSUCH"),
        words("FUNCTION FLUSH"),
        words("FUNCTION LIST"),
    ]
}

#[test]
fn function_corpus_matches_redis() {
    let Some((_r, _f, mut p)) = start_pair() else {
        return;
    };
    p.run(&function_corpus());
}

#[test]
fn function_dump_restores_on_redis_and_back() {
    // A DUMP payload from one server restores on the other, both ways.
    let Some((_r, _f, mut p)) = start_pair() else {
        return;
    };
    let code =
        "#!lua name=moved\nredis.register_function('mv', function(keys, args) return args[1] end)";
    let load = vec![
        b"FUNCTION".to_vec(),
        b"LOAD".to_vec(),
        code.as_bytes().to_vec(),
    ];
    p.run(&[words("FUNCTION FLUSH"), load]);
    let from_redis = p.redis.cmd(&["FUNCTION", "DUMP"]);
    let from_forkv = p.forkv.cmd(&["FUNCTION", "DUMP"]);
    let (Reply::Bulk(rd), Reply::Bulk(fd)) = (&from_redis, &from_forkv) else {
        panic!("DUMP replies {from_redis:?} {from_forkv:?}");
    };
    for (conn, payload) in [(&mut p.forkv, rd), (&mut p.redis, fd)] {
        assert_eq!(
            conn.cmd_bytes(&[b"FUNCTION", b"RESTORE", payload, b"FLUSH"]),
            status("OK")
        );
        assert_eq!(conn.cmd(&["FCALL", "mv", "0", "ok"]), bulk("ok"));
        match conn.cmd_bytes(&[b"FUNCTION", b"RESTORE", payload]) {
            Reply::Error(e) => assert_eq!(e, "ERR Library moved already exists"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn functions_survive_a_restart_through_the_rdb_file() {
    let srv = start_forkv(&[]);
    let mut c = srv.conn();
    let code = "#!lua name=kept\nredis.register_function('k1', function() return 'still here' end)";
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", code]), bulk("kept"));
    assert_eq!(c.cmd(&["SAVE"]), status("OK"));
    let dir = srv.kill9_keep_dir();
    let srv = start_forkv_in(dir, &[]);
    let mut c = srv.conn();
    assert_eq!(c.cmd(&["FCALL", "k1", "0"]), bulk("still here"));
    // FLUSHALL keeps libraries; FUNCTION FLUSH removes them.
    c.cmd(&["FLUSHALL"]);
    assert_eq!(c.cmd(&["FCALL", "k1", "0"]), bulk("still here"));
    assert_eq!(c.cmd(&["FUNCTION", "FLUSH"]), status("OK"));
    assert_eq!(c.cmd(&["FCALL", "k1", "0"]), err("ERR Function not found"));
}

#[test]
fn client_pause_write_holds_scripts_by_their_declared_flags() {
    let srv = start_forkv(&[]);
    let mut admin = srv.conn();
    let mut held = srv.conn();
    let mut free = srv.conn();
    let lib = "#!lua name=p\nredis.register_function{function_name='ro', callback=function() return 'ro' end, flags={'no-writes'}}\nredis.register_function('rw', function() return 'rw' end)";
    assert_eq!(admin.cmd(&["FUNCTION", "LOAD", lib]), bulk("p"));
    assert_eq!(
        admin.cmd(&["CLIENT", "PAUSE", "100000", "WRITE"]),
        status("OK")
    );
    // Declared read-only: runs during the pause.
    assert_eq!(
        free.cmd(&["EVAL", "#!lua flags=no-writes\nreturn 'ok'", "0"]),
        bulk("ok")
    );
    assert_eq!(free.cmd(&["FCALL", "ro", "0"]), bulk("ro"));
    assert_eq!(
        free.cmd(&["EVAL_RO", "return 'plain ro'", "0"]),
        bulk("plain ro")
    );
    // A script that may write (declared or not) and a writing function wait for the end.
    held.send(&["EVAL", "#!lua\nreturn 'late'", "0"]);
    held.send(&["FCALL", "rw", "0"]);
    wait_blocked(&mut admin, 1);
    assert_eq!(free.cmd(&["PING"]), status("PONG"));
    assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]), status("OK"));
    assert_eq!(held.read(), bulk("late"));
    assert_eq!(held.read(), bulk("rw"));
}
