//! The `.env` parser: any text parses or gives a typed error naming a line;
//! what the editor writes back parses to the same values; setting any value
//! round-trips and leaves the other variables alone.
#![no_main]

use libfuzzer_sys::fuzz_target;
use token_core::store::dotenv::DotEnv;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut env = match DotEnv::parse(text) {
        Ok(env) => env,
        Err(e) => {
            assert!(e.line >= 1);
            return;
        }
    };
    let again = DotEnv::parse(&env.to_string()).expect("own output parses");
    let names: Vec<String> = env.names().map(str::to_owned).collect();
    for name in &names {
        assert_eq!(again.get(name), env.get(name));
    }
    // Use the input's tail as a value for a fresh variable.
    let value = &text[text.len() / 2..];
    env.set("FUZZ_VALUE", value);
    let back = DotEnv::parse(&env.to_string()).expect("a set value stays parseable");
    assert_eq!(back.get("FUZZ_VALUE"), Some(value));
    for name in names.iter().filter(|n| *n != "FUZZ_VALUE") {
        assert_eq!(back.get(name), env.get(name));
    }
});
