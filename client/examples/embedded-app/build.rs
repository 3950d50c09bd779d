//! Fetches the production breast-cancer model at build time: resolved through
//! `capstan.lock` (written on the first build), downloaded into the shared cache,
//! verified by sha256 and copied into `OUT_DIR`. `src/main.rs` embeds it.

fn main() {
    match capstan_client::build::fetch("bc@production") {
        // BC_MODEL_PATH, BC_MODEL_VERSION, BC_MODEL_DIGEST, … for `env!` in the app.
        Ok(model) => model.emit_env("BC_MODEL"),
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(1);
        }
    }
}
