//! The `tokenctl` binary; see `tokenctl --help` and the crate docs.
#![forbid(unsafe_code)]

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // The brokers this build knows: one line each.
    let registry = tokenctl::Registry::new()
        .register::<etrade::Etrade>()
        .register::<fyers::Fyers>()
        .register::<schwab::Schwab>()
        .register::<kite::Kite>();
    std::process::ExitCode::from(tokenctl::run_cli(&registry, std::env::args_os()).await)
}
