//! `switchboard`: parse the configuration, start the cores, serve admin,
//! drain on SIGTERM/SIGINT.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use signal_hook::consts::{SIGINT, SIGTERM};
use switchboard::config::{Cli, Config};
use switchboard::shard::Engine;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Runs before the Rust runtime's first allocation: the allocator option
/// must be set before mimalloc reserves its first arena.
extern "C" fn before_first_allocation() {
    switchboard::mem::tune_allocator();
}

// SAFETY: an `.init_array` entry is a plain `extern "C" fn()` the loader
// calls once before `main`; ours takes no arguments, allocates nothing and
// only stores an allocator option.
#[used]
#[unsafe(link_section = ".init_array")]
static BEFORE_FIRST_ALLOCATION: extern "C" fn() = before_first_allocation;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cfg = match Config::load(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("switchboard: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchboard: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cfg: &Config) -> std::io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])?;
    let admin = switchboard::admin::bind(cfg.admin_addr)?;
    let admin_addr = admin.local_addr()?;
    let engine = Engine::start(cfg)?;
    let (metrics, stop) = (engine.metrics.clone(), engine.stop.clone());
    std::thread::Builder::new()
        .name("sb-admin".into())
        .spawn(move || switchboard::admin::serve(admin, metrics, stop))?;
    println!(
        "switchboard ready backend={} threads={} wire={} ws={} mqtt={} admin={}",
        engine.backend,
        engine.metrics.cores.len(),
        engine.wire_addr,
        engine
            .ws_addr
            .map_or_else(|| "off".to_string(), |a| a.to_string()),
        engine
            .mqtt_addr
            .map_or_else(|| "off".to_string(), |a| a.to_string()),
        admin_addr
    );
    std::io::stdout().flush()?;
    let stopper = engine.stopper();
    std::thread::Builder::new()
        .name("sb-signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                eprintln!("switchboard: signal {sig}, draining");
                stopper.stop();
            }
        })?;
    let r = engine.join();
    eprintln!("switchboard: stopped");
    r
}
