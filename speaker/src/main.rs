//! The `fabric-speaker` daemon.

fn main() {
    println!("fabric-speaker: under construction");
}
