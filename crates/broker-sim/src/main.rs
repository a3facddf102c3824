//! `broker-sim`: serve the simulator standalone on the system clock.
//!
//! `cargo run -p broker-sim -- --port 9000 [--timestamps real]`

use std::sync::Arc;

use broker_sim::{BrokerSim, SimConfig, TimestampClock};
use token_core::clock::SystemClock;

const USAGE: &str = "usage: broker-sim [--port PORT] [--timestamps sim|real]\n\
  Serves simulated E*TRADE and FYERS auth APIs on 127.0.0.1 (port 0 = any free port).\n\
  --timestamps real: check E*TRADE oauth_timestamp against the real clock, so clients\n\
  keep working after /__sim/clock moved simulated time (tokens age on simulated time).";

/// The command line.
#[derive(Debug, PartialEq, Eq)]
struct Args {
    port: u16,
    timestamps: TimestampClock,
}

fn parse_timestamps(v: &str) -> Result<TimestampClock, String> {
    match v {
        "sim" | "simulated" => Ok(TimestampClock::Simulated),
        "real" => Ok(TimestampClock::Real),
        _ => Err(format!("bad --timestamps value: {v} (sim or real)")),
    }
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut out = Args {
        port: 0,
        timestamps: TimestampClock::Simulated,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (a.as_str(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or(format!("{name} needs a value"))
        };
        match flag {
            "--port" | "-p" => {
                let v = value("--port")?;
                out.port = v.parse().map_err(|_| format!("bad port: {v}"))?;
            }
            "--timestamps" => out.timestamps = parse_timestamps(&value("--timestamps")?)?,
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    Ok(out)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = match parse_args(&args) {
        Ok(p) => p,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("{e}");
            }
            eprintln!("{USAGE}");
            std::process::exit(if e.is_empty() { 0 } else { 2 });
        }
    };
    let config = SimConfig {
        port: parsed.port,
        etrade_timestamp_clock: parsed.timestamps,
        ..SimConfig::default()
    };
    let running = match BrokerSim::start(config, Arc::new(SystemClock)).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("broker-sim: {e}");
            std::process::exit(1);
        }
    };
    let c = running.credentials();
    println!("broker-sim listening on {}", running.base_url);
    println!();
    println!("E*TRADE OAuth/API base : {}", c.etrade_oauth_base_url);
    println!("  consumer key         : {}", c.etrade_consumer_key);
    println!("  consumer secret      : {}", c.etrade_consumer_secret);
    println!(
        "  authorize page       : {}/e/t/etws/authorize?key={}&token=REQUEST_TOKEN",
        c.etrade_oauth_base_url, c.etrade_consumer_key
    );
    println!(
        "  oauth_timestamp      : checked against the {} clock",
        match parsed.timestamps {
            TimestampClock::Simulated => "simulated",
            TimestampClock::Real => "real",
        }
    );
    println!("FYERS base             : {}", c.fyers_base_url);
    println!("  client_id            : {}", c.fyers_client_id);
    println!("  secret key           : {}", c.fyers_secret_key);
    println!("  pin                  : {}", c.fyers_pin);
    println!("  redirect_uri         : {}", c.fyers_redirect_uri);
    println!(
        "Control API            : {}/__sim/ (clock, faults, counters, settings, credentials)",
        running.base_url
    );
    println!();
    println!("Demo credentials only. Ctrl-C to stop.");
    let _ = tokio::signal::ctrl_c().await;
    running.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn port(v: &[&str]) -> Result<u16, String> {
        parse_args(&s(v)).map(|a| a.port)
    }

    #[test]
    fn parses_port_forms() {
        assert_eq!(port(&[]), Ok(0));
        assert_eq!(port(&["--port", "9000"]), Ok(9000));
        assert_eq!(port(&["--port=9001"]), Ok(9001));
        assert!(port(&["--port"]).is_err());
        assert!(port(&["--port", "x"]).is_err());
        assert!(port(&["--bogus"]).is_err());
    }

    #[test]
    fn timestamps_flag_picks_the_clock() {
        let ts = |v: &[&str]| parse_args(&s(v)).map(|a| a.timestamps);
        assert_eq!(ts(&[]), Ok(TimestampClock::Simulated));
        assert_eq!(ts(&["--timestamps", "real"]), Ok(TimestampClock::Real));
        assert_eq!(ts(&["--timestamps=sim"]), Ok(TimestampClock::Simulated));
        assert!(ts(&["--timestamps", "wall"]).is_err());
        assert!(ts(&["--timestamps"]).is_err());
    }
}
