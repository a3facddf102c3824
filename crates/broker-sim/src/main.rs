//! `broker-sim`: serve the simulator standalone on the system clock.
//!
//! `cargo run -p broker-sim -- --port 9000`

use std::sync::Arc;

use broker_sim::{BrokerSim, SimConfig};
use token_core::clock::SystemClock;

const USAGE: &str = "usage: broker-sim [--port PORT]\n\
  Serves simulated E*TRADE and FYERS auth APIs on 127.0.0.1 (port 0 = any free port).";

fn parse_port(args: &[String]) -> Result<u16, String> {
    let mut port = 0;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--port" | "-p" => {
                let v = it.next().ok_or("--port needs a value")?;
                port = v.parse().map_err(|_| format!("bad port: {v}"))?;
            }
            s if s.starts_with("--port=") => {
                let v = &s["--port=".len()..];
                port = v.parse().map_err(|_| format!("bad port: {v}"))?;
            }
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    Ok(port)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let port = match parse_port(&args) {
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
        port,
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

    #[test]
    fn parses_port_forms() {
        assert_eq!(parse_port(&s(&[])), Ok(0));
        assert_eq!(parse_port(&s(&["--port", "9000"])), Ok(9000));
        assert_eq!(parse_port(&s(&["--port=9001"])), Ok(9001));
        assert!(parse_port(&s(&["--port"])).is_err());
        assert!(parse_port(&s(&["--port", "x"])).is_err());
        assert!(parse_port(&s(&["--bogus"])).is_err());
    }
}
