//! A sink's `on_change` command: an argv (no shell) run after each write,
//! with a timeout, in the background; its failure is logged, never
//! blocking renewals. Its output is discarded (it might echo a token).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// Starts `argv` in the background; kills it after `timeout`.
pub(super) fn spawn(argv: Vec<String>, timeout: Duration, sink: &Path) {
    let sink = sink.display().to_string();
    tokio::spawn(async move {
        let Some((program, args)) = argv.split_first() else {
            return;
        };
        let child = tokio::process::Command::new(program)
            .args(args)
            .env("TOKENCTL_SINK", &sink)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(sink = %sink, program = %program, error = %e, "on_change command cannot start");
                return;
            }
        };
        match tokio::time::timeout(timeout, child.wait()).await {
            Ok(Ok(status)) if status.success() => {
                tracing::debug!(sink = %sink, program = %program, "on_change command done")
            }
            Ok(Ok(status)) => {
                tracing::warn!(sink = %sink, program = %program, %status, "on_change command failed")
            }
            Ok(Err(e)) => {
                tracing::warn!(sink = %sink, program = %program, error = %e, "on_change command failed")
            }
            Err(_) => {
                let _ = child.kill().await;
                tracing::warn!(sink = %sink, program = %program, timeout_secs = timeout.as_secs(), "on_change command timed out and was killed");
            }
        }
    });
}
