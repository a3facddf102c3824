//! Signing one API request: GET with 3 query parameters.
//!
//! Run: `cargo bench -p etrade --bench sign`.

use std::hint::black_box;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use etrade::{EtradeCredentials, Signer};
use token_core::ManualClock;

fn sign_get_with_three_query_params(c: &mut Criterion) {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 6, 14, 30, 0).unwrap());
    let signer = Signer::with_clock(
        "SIMKEYdemo0000000000000000000001",
        "SIMSECRETdemo00000000000000000000000000001"
            .to_string()
            .into(),
        Arc::new(clock),
    );
    let creds = EtradeCredentials::new(
        "yC8gc8sGWrDZW3mVT0wzHpnvQf9dL8r1GFqUoZ3D9eY="
            .to_string()
            .into(),
        "dP6LFp1n5QG4hVcHzqCkz0v4bMhZ0N5tYyKq3rXs2aA="
            .to_string()
            .into(),
    );
    let url = url::Url::parse(
        "https://api.etrade.com/v1/market/quote/AAPL,MSFT.json?detailFlag=ALL&requireEarningsDate=true&skipMiniOptionsCheck=false",
    )
    .unwrap();
    c.bench_function("sign GET with 3 query params", |b| {
        b.iter(|| {
            signer
                .sign(black_box("GET"), black_box(&url), None, black_box(&creds))
                .unwrap()
        })
    });
}

criterion_group!(benches, sign_get_with_three_query_params);
criterion_main!(benches);
