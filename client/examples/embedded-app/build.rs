//! Fetches the production model at build time: resolved through `capstan.lock` (written
//! on the first build), downloaded into the shared cache, verified by sha256 and copied
//! into `OUT_DIR`. `src/main.rs` embeds it. The ref is `bc@production` unless
//! `EMBEDDED_MODEL` names another.

fn main() {
    println!("cargo:rerun-if-env-changed=EMBEDDED_MODEL");
    let reference =
        std::env::var("EMBEDDED_MODEL").unwrap_or_else(|_| "bc@production".to_owned());
    match capstan_client::build::fetch(&reference) {
        // BC_MODEL_PATH, BC_MODEL_VERSION, BC_MODEL_DIGEST, … for `env!` in the app.
        Ok(model) => model.emit_env("BC_MODEL"),
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(1);
        }
    }
}
