//! The `rmqstore` command-line tool; everything is in `rmqstore::cli`.

fn main() -> std::process::ExitCode {
    rmqstore::cli::main()
}
