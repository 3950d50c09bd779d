//! Fetches every ref named in `EMBEDDED_MODELS` (comma-separated, `name@stage` …) at build
//! time — each pinned in `capstan.lock`, verified by sha256 — and writes `models.rs` into
//! `OUT_DIR`: one `(ref, format, include_bytes!(…))` entry per model, for `src/main.rs`.

use std::fmt::Write;

fn main() {
    println!("cargo:rerun-if-env-changed=EMBEDDED_MODELS");
    let refs = std::env::var("EMBEDDED_MODELS").unwrap_or_default();
    let mut code = String::from("pub static MODELS: &[(&str, &str, &[u8])] = &[\n");
    for reference in refs.split(',').map(str::trim).filter(|r| !r.is_empty()) {
        match capstan_client::build::fetch(reference) {
            Ok(model) => {
                let _ = writeln!(
                    code,
                    "    ({:?}, {:?}, include_bytes!({:?})),",
                    reference,
                    model.format,
                    model.path.display().to_string()
                );
            }
            Err(error) => {
                eprintln!("error: {reference}: {error}");
                std::process::exit(1);
            }
        }
    }
    code.push_str("];\n");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("models.rs"), code).expect("OUT_DIR is writable");
}
