fn main() {
    std::process::exit(planopticon::cli::run());
}
