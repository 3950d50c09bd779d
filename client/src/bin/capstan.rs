//! `capstan`: the command-line client of a Capstan registry. All of it lives in
//! `capstan_client::cli`; this only runs it.

fn main() -> std::process::ExitCode {
    capstan_client::cli::main()
}
