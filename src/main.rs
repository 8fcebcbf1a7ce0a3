//! forkv-server: parse the command line and config like redis-server, then run the loop.

use forkv::config::{Config, P};
use forkv::server::{FORKV_VERSION, Server, VERSION};

#[global_allocator]
static GLOBAL: forkv::alloc::CountingAlloc = forkv::alloc::CountingAlloc;

fn usage() {
    eprintln!(
        "Usage: ./forkv-server [/path/to/forkv.conf] [options] [-]\n       \
         ./forkv-server - (read config from stdin)\n       \
         ./forkv-server -v or --version\n       \
         ./forkv-server -h or --help\n\n\
         Examples:\n       \
         ./forkv-server (run the server with default conf)\n       \
         ./forkv-server /etc/redis/6379.conf\n       \
         ./forkv-server --port 7777\n       \
         ./forkv-server /etc/myredis.conf --loglevel verbose\n"
    );
}

fn init_logging(cfg: &Config) {
    let level = match cfg.enum_name(P::Loglevel) {
        "debug" => log::LevelFilter::Debug,
        "verbose" => log::LevelFilter::Info,
        "notice" => log::LevelFilter::Info,
        _ => log::LevelFilter::Warn,
    };
    let mut b = env_logger::Builder::new();
    b.filter_level(level).format_timestamp_millis();
    let logfile = cfg.str(P::Logfile);
    if !logfile.is_empty() {
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(logfile)
        {
            Ok(f) => {
                b.target(env_logger::Target::Pipe(Box::new(f)));
            }
            Err(e) => {
                eprintln!("Can't open the log file: {e}");
                std::process::exit(1);
            }
        }
    }
    b.init();
}

fn main() {
    forkv::alloc::configure_system_allocator();
    let mut args: Vec<String> = std::env::args().collect();
    let exe = std::fs::canonicalize(&args[0])
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| args[0].clone());
    args.remove(0);
    if let Some(first) = args.first() {
        match first.as_str() {
            "-v" | "--version" => {
                println!(
                    "forkv server v={FORKV_VERSION} redis_version={VERSION} sha={}:{} malloc=libc bits=64 build={}",
                    env!("FORKV_GIT_SHA1"),
                    env!("FORKV_GIT_DIRTY"),
                    env!("FORKV_BUILD_ID")
                );
                return;
            }
            "-h" | "--help" => {
                usage();
                return;
            }
            _ => {}
        }
    }
    let cfg = match Config::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    init_logging(&cfg);
    let mut server = match Server::new(cfg, exe) {
        Ok(s) => s,
        Err(e) => {
            log::error!("{e}");
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    log::warn!(
        "forkv {FORKV_VERSION} (Redis {VERSION} compatible) ready to accept connections on port {}",
        server.listeners.first().map_or(0, |l| l.addr.port())
    );
    let code = server.run();
    std::process::exit(code);
}
