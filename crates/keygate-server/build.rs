//! Release builds embed `ui/dist`; rebuild when the UI build changes.
fn main() {
    println!("cargo:rerun-if-changed=../../ui/dist");
}
