//! `switchboard-loadgen`: drives Switchboard (and baseline echo servers)
//! over raw TCP or WebSocket, and any MQTT broker, and reports throughput,
//! latency and server cost.

mod baseline;
mod cli;
mod client;
mod clock;
mod mqtt;
mod multiproc;
mod openloop;
mod pacing;
mod procstat;
mod receiver;
mod report;
mod run;
mod scenario;
mod shared;
mod stamp;
mod tally;
mod transport;
mod worker;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    match cli.command {
        cli::Command::Tcp(args) => run::load(*args),
        cli::Command::Ws(args) => run::load(args.into_load()),
        cli::Command::Mqtt(args) => run::load(args.into_load()),
        cli::Command::EchoServer(args) => baseline::run(&args),
    }
}
