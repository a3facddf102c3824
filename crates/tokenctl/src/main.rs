//! The `tokenctl` binary; see `tokenctl --help` and the crate docs.
#![forbid(unsafe_code)]

#[tokio::main]
async fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(tokenctl::cli::main_with(std::env::args_os()).await)
}
