//! The `fabriclab` command line; everything lives in [`fabriclab::cli`].

fn main() -> std::process::ExitCode {
    fabriclab::cli::main()
}
